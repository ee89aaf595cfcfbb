"""Two workers writing audit rows at once must queue, not fail (embedded SQLite)."""
from __future__ import annotations

import threading

from tests.functional.conftest import PASSWORD, csrf_token


def test_concurrent_customer_views_all_succeed(app, users, bank):
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        client = app.test_client()
        client.post("/login", data={"username": "rm1", "password": PASSWORD,
                                    "csrf_token": csrf_token(client)})
        barrier.wait()
        for _ in range(15):
            statuses.append(client.get(f"/customers/{bank.ids['C1']}").status_code)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 60
