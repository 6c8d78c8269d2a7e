"""The documents say what the code does: tables checked against ``protocol.py``, links that
lead somewhere inside the repository, a README short enough to read."""

from __future__ import annotations

import re
import unittest

import protocol
from batchat.client import server_lines
from tests.support import ROOT

README = ROOT / "README.md"
PROTOCOL_DOC = ROOT / "docs" / "protocolo.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (header and rule rows included)."""
    return [
        [cell.strip().replace("\\|", "|") for cell in line.strip().strip("|").split(" | ")]
        for line in text.splitlines() if line.startswith("| ")
    ]


class CommandTableTest(unittest.TestCase):
    def test_readme_command_table_is_the_protocol_table(self) -> None:
        """Everyone's commands; the teacher's are in docs/protocolo.md and docs/professor.md."""
        expected = [
            [f"`{help.syntax}`", help.meaning, f"`{help.example}`", help.access.value]
            for help in protocol.COMMAND_HELP.values() if help.access is not protocol.Access.TEACHER
        ]
        rows = [row for row in table_rows(README.read_text("utf-8")) if len(row) == 4]
        commands = [row for row in rows if row[0].strip("`").split(" ")[0] in protocol.COMMAND_WORDS]
        self.assertEqual(commands, expected)

    def test_protocol_doc_names_each_command_with_who_may_use_it(self) -> None:
        rows = table_rows(PROTOCOL_DOC.read_text("utf-8"))
        seen = {}
        for row in rows:
            word = row[0].strip("`").split(" ")[0]
            if len(row) == 3 and word in protocol.COMMAND_WORDS:
                seen.setdefault(word, set()).add(row[2])
        self.assertEqual(set(seen), set(protocol.COMMAND_WORDS))
        for word, access in seen.items():
            with self.subTest(word=word):
                self.assertEqual(access, {protocol.COMMAND_HELP[word].access.value})

    def test_protocol_doc_lists_every_server_line_and_error_code(self) -> None:
        first_cells = {row[0].strip("`").split(" ")[0] for row in table_rows(PROTOCOL_DOC.read_text("utf-8"))}
        for kind in server_lines._SERVER_FIELDS:
            with self.subTest(kind=kind):
                self.assertIn(kind, first_cells)
        for code in protocol.ErrorCode:
            with self.subTest(code=code):
                self.assertIn(str(code), first_cells)


class DocumentTest(unittest.TestCase):
    def test_links_lead_to_files_in_the_repository(self) -> None:
        for document in DOCUMENTS:
            for target in LINK_RE.findall(document.read_text("utf-8")):
                if target.startswith(("http://", "https://")):
                    continue
                with self.subTest(document=document.name, target=target):
                    path = (document.parent / target).resolve()
                    self.assertTrue(path.is_relative_to(ROOT), "outside the repository")
                    self.assertTrue(path.exists())

    def test_no_document_points_outside_the_repository(self) -> None:
        for document in DOCUMENTS:
            with self.subTest(document=document.name):
                self.assertNotIn("../shared", document.read_text("utf-8"))

    def test_readme_is_short(self) -> None:
        self.assertLess(len(README.read_text("utf-8").splitlines()), 300)
