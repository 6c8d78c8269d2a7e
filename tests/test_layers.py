"""Imports only go down: each module of BatChat imports only modules of a lower layer.

The layers are the ones drawn in ``batchat/__init__.py`` (and ``docs/arquitetura.md``);
a module that reached up, or two that imported each other, would fail here.
"""

from __future__ import annotations

import ast
import threading
import unittest

from batchat import locks

from tests.support import ROOT

# Lowest first. A module may import any module of an earlier layer, never of its own or a later one.
LAYERS: list[set[str]] = [
    {"batchat.lookalikes", "batchat.version_check", "batchat.durations", "batchat.greeting"},
    {"protocol"},
    {"batchat.rooms_names"},
    {"batchat.prices", "batchat.formatting", "batchat.parsing"},
    {"batchat.client.server_lines", "batchat.portable", "batchat.framing", "batchat.tls_bytes", "batchat.cli", "batchat.locks",
     "batchat.server.tiers", "batchat.client.tiers", "batchat.server.timing", "batchat.client.peer_sentences"},
    {"batchat.server.os_support", "batchat.server.ending", "batchat.server.presence", "batchat.server.limits",
     "batchat.server.replies", "batchat.server.foreign",
     "batchat.client.terminal", "batchat.client.flow", "batchat.client.render", "batchat.client.states",
     "batchat.client.replay"},
    {"batchat.server.storage", "batchat.server.connection", "batchat.client.typed", "batchat.client.link",
     "batchat.client.events", "batchat.client.privates"},
    {"batchat.server.users_file", "batchat.client.teacher_lines", "batchat.client.rooms"},
    {"batchat.server.sqlite_files"},
    {"batchat.server.accounts", "batchat.server.mailbox", "batchat.server.moderation", "batchat.server.registry",
     "batchat.server.log_file", "batchat.server.tls_handshake", "batchat.client.screen", "batchat.client.state",
     "batchat.client.password_prompt", "batchat.client.grouping"},
    {"batchat.server.rooms"},
    {"batchat.server.delivery", "batchat.client.threads"},
    {"batchat.server.teaching", "batchat.server.appointment"},
    {"batchat.server.room_rules"},
    {"batchat.server.chat"},
    {"batchat.server.session", "batchat.client.main"},
    {"batchat.server.read_loop", "batchat.server.options"},
    {"batchat.server.main"},
    {"servidor", "cliente"},
]
# The two programs' wings: neither imports the other (what both use is in batchat/ itself).
WINGS = ("batchat.server.main", "batchat.client.threads")


def module_path(name: str) -> str:
    return name.replace(".", "/") + ".py"


def modules_on_disk() -> set[str]:
    """Every module of the package, in ``batchat/`` and its wings (``__init__`` aside)."""
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "batchat").rglob("*.py") if path.stem != "__init__"
    }


def own_imports(name: str) -> set[str]:
    """The BatChat modules ``name`` imports (``from batchat.server.main import x`` counts as
    ``batchat.server.main.x``)."""
    tree = ast.parse((ROOT / module_path(name)).read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    everything = set().union(*LAYERS)
    return {module for module in found if module in everything}


class LayerTest(unittest.TestCase):
    def test_every_module_has_a_layer(self) -> None:
        self.assertEqual(modules_on_disk() - set().union(*LAYERS), set())

    def test_the_server_and_the_client_never_import_each_other(self) -> None:
        for name in sorted(modules_on_disk() | {"servidor", "cliente"}):
            own = next((wing for wing in WINGS if name.startswith(wing + ".")), None)
            entry = {"servidor": WINGS[0], "cliente": WINGS[1]}.get(name)
            for wing in WINGS:
                if wing in (own, entry):
                    continue
                with self.subTest(module=name, other=wing):
                    self.assertFalse({m for m in own_imports(name) if m.startswith(wing + ".")},
                                     f"{name} imports the other program's wing {wing}")

    def test_imports_only_go_down(self) -> None:
        below: set[str] = set()
        for layer in LAYERS:
            for name in sorted(layer):
                with self.subTest(module=name):
                    self.assertLessEqual(own_imports(name), below, "imports a module of its layer or above")
            below |= layer


class TieredLockTest(unittest.TestCase):
    """The tier rule, as the tests check it (they turn the check on: tests/__init__.py)."""

    def setUp(self) -> None:
        self.recorded = len(locks.violations)
        self.addCleanup(self.forget_violations_made_on_purpose)

    def forget_violations_made_on_purpose(self) -> None:
        del locks.violations[self.recorded:]

    def test_a_higher_tier_may_be_taken_under_a_lower_one(self) -> None:
        low, high = locks.tiered_lock(1, "baixa"), locks.tiered_lock(2, "alta")
        with low, high:
            pass
        self.assertEqual(locks.violations[self.recorded:], [])

    def test_a_lower_or_equal_tier_under_a_held_lock_raises_and_is_recorded(self) -> None:
        for tier in (1, 2):
            with self.subTest(tier=tier):
                held, taken = locks.tiered_lock(2, "segurada"), locks.tiered_lock(tier, "pega")
                with held, self.assertRaises(locks.LockOrderError), self.assertLogs("batchat.locks", "ERROR"):
                    taken.acquire()
                self.assertIn(locks.MARK, locks.violations[-1])
                self.assertTrue(taken.acquire(blocking=False))  # the refused one was never taken
                taken.release()

    def test_a_semaphore_counts_like_a_lock(self) -> None:
        slots, state = locks.tiered_semaphore(1, "vagas", 2), locks.tiered_lock(3, "estado")
        with slots, state:
            pass
        with state, self.assertRaises(locks.LockOrderError), self.assertLogs("batchat.locks", "ERROR"):
            slots.acquire()

    def test_a_condition_forgets_its_lock_while_it_waits(self) -> None:
        lock = locks.tiered_lock(5, "com condição")
        condition = threading.Condition(lock)
        woken = threading.Event()

        def waiter() -> None:
            with condition:
                condition.wait_for(woken.is_set, timeout=10)

        thread = threading.Thread(target=waiter)
        thread.start()
        with condition:  # taken by this thread while the other waits: no order error
            woken.set()
            condition.notify_all()
        thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertEqual(locks.violations[self.recorded:], [])


class LockOrderAtTheEnd(unittest.TestCase):
    """Run last by tests/__init__.py, after every other test: a lock taken out of order in
    any of them, in any thread (where the error may only have been logged), fails here."""

    def check_no_lock_was_taken_out_of_order(self) -> None:
        self.assertEqual(locks.violations, [], "travas pegas fora da ordem dos níveis durante os testes")
