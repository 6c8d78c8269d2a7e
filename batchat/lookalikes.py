"""Which characters a reader cannot see, and which letters look like which: the folding of names.

Owns :data:`INVISIBLE_IN_NAMES`, :data:`SMALL_CAPITALS`, :func:`unmarked` and
:func:`name_skeleton`. Pure data and functions; imported by ``protocol.py`` (the
name rule, which re-exports them as part of the grammar) and through it by the
server's accounts (one name per look-alike) and the client's look-alike rule
for ``ENTRAR``/``NOVO``.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt,
# Unicode 15.0), which ``unicodedata`` does not expose: characters a renderer
# shows as nothing. Four of them are letters to ``\w`` (the Hangul fillers
# U+115F, U+1160, U+3164, U+FFA0), so "\u3164" alone was a name and
# "alice\u3164" looked exactly like "alice". No other ``\w`` character renders
# blank. The whole set is here, so a wider name rule can never let the others in;
# and so are the two symbols that render blank without being Default_Ignorable
# (U+2800 BRAILLE PATTERN BLANK, U+1D159 MUSICAL SYMBOL NULL NOTEHEAD): no name can
# hold them anyway (they are not ``\w``), but a word read as the eye reads it
# (:func:`unmarked`: the client's look-alike rule, "\u2800ENTRAR") must drop them.
INVISIBLE_IN_NAMES = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d159\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


# Letters of other scripts drawn like Latin ones, and the Latin letter each reads as:
# a capital as it looks among capitals (Cyrillic Е, Greek Ν in "ЕΝTRAR"), a small
# letter as it looks in a name typed in lower case (Cyrillic а, Greek ο; a Greek ν
# reads as v there, not n). Mapped before case is folded, so each form reads as
# itself. Accented forms (Ё, ά) lose their accent first; fullwidth ones (Ｅ) are Latin
# after NFKD.
# The Latin small capital letters (most in the U+1D00 block), and the capital each is.
SMALL_CAPITALS = ("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "ABCDEFGHIJKLMNOPRSTUVWYZ")
_LOOKALIKES = {
    "АВСЕНІЈКМОРЅТХУҮԚԜҺԀӀѴ": "ABCEHIJKMOPSTXYYQWHDIV",  # Cyrillic capitals
    "авсеніјкморѕтхуүԛԝһԁӏѵ": "abcehijkmopstxyyqwhdlv",  # Cyrillic small letters
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹͿ": "ABEZHIKMNOPTYXCJ",  # Greek capitals
    "αβγεζηικμνορτυχϲϳ": "abyeznikuvoptuxcj",  # Greek small letters
    "ıɑɡȷ": "iagj",  # Latin ones drawn like plain letters: Turkish ı, IPA's ɑ and ɡ, dotless ȷ
    SMALL_CAPITALS[0]: SMALL_CAPITALS[1],  # small capitals: "ᴇɴᴛʀᴀʀ" is ENTRAR, smaller
}
_LATIN_LOOKALIKES = str.maketrans("".join(_LOOKALIKES), "".join(_LOOKALIKES.values()))
# The combining marks that accents are, once a letter is decomposed (NFKD: "ã" is "a"
# and U+0303): the generic blocks, not the vowel signs of Indic or Thai letters.
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def unmarked(text: str) -> str:
    """``text`` as the eye reads it, case and script kept: no invisible characters
    (:data:`INVISIBLE_IN_NAMES`), width and compatibility forms folded (NFKD: ``Ｅ``
    is ``E``) and no accents (``É`` is ``E``)."""
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", INVISIBLE_IN_NAMES.sub("", text)))


def name_skeleton(name: str) -> str:
    """The Latin letters ``name`` looks like, in lower case: names that differ only by
    case, width, accents or look-alike letters (``joão``, ``JOAO``, ``ｊｏａｏ``, ``jоао``
    with a Cyrillic ``о`` and ``а``) share one. What a new account may not share with
    an existing one (``NOVO``), and what the client's look-alike rule compares with
    ``ENTRAR``."""
    return unmarked(name).translate(_LATIN_LOOKALIKES).casefold()
