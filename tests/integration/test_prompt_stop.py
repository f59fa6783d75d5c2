"""A qcluster stops promptly when told (issue 14): SIGTERM to its main process only (as docker,
Kubernetes or a supervisor sends it) while a worker is in the minute-long SQS long poll of
Amazon's order changes: the cluster is gone within 10 s, the run ended early and cleanly, and
no process of it is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from django.db import connection
from django_q.models import Task
from django_q.tasks import async_task

from foundation import worker_stop
from orders.order_changes import RECEIVER_LOCK
from sandbox.amazon.testing import running_amazon_sandbox
from tests.support.processes import alive, qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def long_polling() -> bool:
    """A receiver holds its slot (the session advisory lock of orders.order_changes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s",
            [RECEIVER_LOCK],
        )
        return cursor.fetchone()[0] > 0


def test_sigterm_stops_a_qcluster_within_10_seconds_while_a_worker_long_polls_sqs(settings):
    with running_amazon_sandbox() as sandbox:
        queue = {
            "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL": sandbox.queue_url,
            "KEELSON_AMAZON_SQS_ACCESS_KEY_ID": "sandbox",
            "KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY": "sandbox",
        }
        with qcluster(KEELSON_AMAZON_NOTIFICATIONS_RUN_SECONDS="55", **queue) as proc:
            task_id = async_task("orders.tasks.receive_amazon_order_changes")
            deadline = time.monotonic() + 60
            while not long_polling():
                assert proc.poll() is None, f"qcluster died: see {proc.log_path}"
                assert time.monotonic() < deadline, "the receive task never started"
                time.sleep(0.2)
            time.sleep(1)  # inside a ReceiveMessage call now
            processes = worker_stop.descendants(proc.pid)
            assert len(processes) >= 3  # sentinel, monitor, pusher, workers

            started = time.monotonic()
            os.kill(proc.pid, signal.SIGTERM)  # the main process only
            try:
                code = proc.wait(10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"qcluster still running 10 s after SIGTERM: see {proc.log_path}")
            took = time.monotonic() - started

            leftovers = [pid for pid in processes if alive(pid)]
            print(
                f"stopped in {took:.1f} s, exit code {code}, {len(processes)} processes, "
                f"{len(leftovers)} left"
            )
            assert leftovers == []
            # The slot goes with the ended worker's database session: its server process ends
            # just after the worker closed the connection, not before (seen once in CI on a
            # loaded machine: still listed right after the cluster exited).
            released_by = time.monotonic() + 5
            while long_polling() and time.monotonic() < released_by:
                time.sleep(0.1)
            assert not long_polling()
    task = Task.objects.get(id=task_id)  # the run ended, and its result was kept
    assert task.success, task.result
    assert task.result["stopped_early"] is True
    assert task.result["errors"] == []


def test_sigterm_to_the_whole_process_group_stops_an_idle_qcluster_at_once():
    """systemd's default (KillMode=control-group), a shell's Ctrl-C and a test's killpg signal
    every process of the cluster at once: the sentinel dies of it, and django-q2's stop would
    then wait forever for it to acknowledge the stop event (seen as a qcluster SIGKILLed 10 s
    after every such SIGTERM). Each round the cluster is gone within 5 s, nothing left."""
    for round_ in range(3):
        with qcluster() as proc:
            deadline = time.monotonic() + 60
            while "running." not in proc.log_path.read_text(errors="replace"):
                assert proc.poll() is None, f"qcluster died: see {proc.log_path}"
                assert time.monotonic() < deadline, "the qcluster never came up"
                time.sleep(0.2)
            processes = worker_stop.descendants(proc.pid)
            assert len(processes) >= 3

            started = time.monotonic()
            os.killpg(proc.pid, signal.SIGTERM)  # every process of the cluster
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"round {round_}: qcluster still running 5 s after a SIGTERM to its group"
                )
            took = time.monotonic() - started
            leftovers = [pid for pid in processes if alive(pid)]
            print(f"round {round_}: stopped in {took:.1f} s, {len(leftovers)} processes left")
            assert leftovers == []
