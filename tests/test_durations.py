"""Pure tests: durations as typed (``batchat.durations.parse_duration``) and as read
(``describe_duration``). No I/O, no clock."""

from __future__ import annotations

import unittest

from batchat.durations import describe_duration, duration_word, parse_duration


class ParseDurationTest(unittest.TestCase):
    VALID = {
        "30s": 30,
        "1s": 1,
        "10m": 600,
        "10M": 600,
        "2h": 7200,
        "2H": 7200,
        "1d": 86400,
        "365d": 365 * 86400,
        "8760h": 365 * 86400,
        "31536000s": 31536000,
        "007m": 420,
    }

    INVALID = {
        "empty": "",
        "no unit": "30",
        "unit only": "m",
        "zero": "0s",
        "zeros": "000m",
        "over a year": "366d",
        "one second over a year": "31536001s",
        "huge number": "9" * 5000 + "s",
        "two units": "1h30m",
        "unknown unit": "3w",
        "space inside": "3 m",
        "leading space": " 3m",
        "trailing newline": "3m\n",
        "negative": "-3m",
        "plus sign": "+3m",
        "decimal": "1.5h",
        "Arabic-Indic digits": "\u0663m",
        "fullwidth digits": "\uff13m",
        "fullwidth unit": "3\uff4d",
        "long s, an s only ignoring case in Unicode": "3\u017f",
        "Kelvin sign": "3\u212a",
        "word": "cinco",
    }

    def test_valid_durations_in_seconds(self) -> None:
        for text, seconds in self.VALID.items():
            with self.subTest(text=text):
                self.assertEqual(parse_duration(text), seconds)
                self.assertEqual(parse_duration(text, forever_allowed=True), seconds)

    def test_invalid_durations_say_what_is_valid(self) -> None:
        for label, text in self.INVALID.items():
            for forever_allowed in (False, True):
                with self.subTest(label, forever_allowed=forever_allowed):
                    with self.assertRaises(ValueError) as raised:
                        parse_duration(text, forever_allowed=forever_allowed)
                    sentence = str(raised.exception)
                    self.assertIn("30s, 10m, 2h ou 1d", sentence)
                    self.assertEqual("SEMPRE" in sentence, forever_allowed)

    def test_forever_only_where_allowed(self) -> None:
        for text in ("SEMPRE", "sempre", "Sempre"):
            with self.subTest(text=text):
                self.assertIsNone(parse_duration(text, forever_allowed=True))
                with self.assertRaises(ValueError) as raised:
                    parse_duration(text)
                self.assertIn("Aqui não vale SEMPRE", str(raised.exception))
        with self.assertRaises(ValueError):
            parse_duration("SEMPREs", forever_allowed=True)


class DurationWordTest(unittest.TestCase):
    CASES = {1: "1s", 90: "90s", 300: "5m", 5400: "90m", 7200: "2h", 86400: "1d", 90000: "25h",
             365 * 86400: "365d"}

    def test_the_shortest_word_that_reads_back_the_same(self) -> None:
        for seconds, word in self.CASES.items():
            with self.subTest(seconds=seconds):
                self.assertEqual(duration_word(seconds), word)
                self.assertEqual(parse_duration(word), seconds)


class DescribeDurationTest(unittest.TestCase):
    CASES = {
        None: "para sempre",
        0: "0 segundos",
        1: "1 segundo",
        30: "30 segundos",
        60: "1 minuto",
        300: "5 minutos",
        90: "1 minuto e 30 segundos",
        3600: "1 hora",
        7200: "2 horas",
        5400: "1 hora e 30 minutos",
        3601: "1 hora e 1 segundo",
        86400: "1 dia",
        2 * 86400 + 3 * 3600: "2 dias e 3 horas",
        86400 + 3600 + 60 + 1: "1 dia e 1 hora",
        365 * 86400: "365 dias",
    }

    def test_described_in_portuguese_with_at_most_two_units(self) -> None:
        for seconds, text in self.CASES.items():
            with self.subTest(seconds=seconds):
                self.assertEqual(describe_duration(seconds), text)


if __name__ == "__main__":
    unittest.main()
