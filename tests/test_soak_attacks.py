"""The attack soak (benchmarks/soak_attacks.py) for a few seconds: clients stay served.

The full run prints the figures of issue 14 (about a minute)::

    python benchmarks/soak_attacks.py
"""

from __future__ import annotations

import pytest

from benchmarks import soak_attacks


@pytest.mark.slow
def test_clients_stay_served_and_the_server_recovers_under_the_attacks() -> None:
    plan = soak_attacks.Plan(
        seconds=4, slow=30, tickers=6, chats=4, idle=20, heartbeat=1.0, nofile=256
    )
    tally = soak_attacks.run(plan)
    print(soak_attacks.report(plan, tally))
    assert tally.own and len(tally.own_errors) <= 1, tally.own_errors
    assert tally.other and len(tally.other_errors) <= 1, tally.other_errors
    assert set(tally.rebinding) <= {"403", "0"} and tally.rebinding.get("403")
    # every attacker's descriptor is given back, the never-reading ones included
    assert tally.recovered_after is not None
    assert tally.recovered_after <= 2 * plan.heartbeat + 1
