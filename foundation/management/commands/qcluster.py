"""``manage.py qcluster``: django-q2's command, with a prompt stop (``foundation.worker_stop``).

It takes the place of django-q2's own command (``foundation`` is listed before ``django_q`` in
INSTALLED_APPS, and Django takes a command from the first app that has it), with the same
options; the only change is what a SIGTERM or SIGINT does first: it asks the workers to end
their long tasks, so the cluster stops in seconds instead of after the SQS long poll.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

from foundation import worker_stop

logger = logging.getLogger("django-q")


class PromptStopCluster(Cluster):
    def sig_handler(self, signum, frame) -> None:
        worker_stop.tell_workers(self.pid)
        if self.sentinel is not None and worker_stop.died_of_the_same_signal(self.sentinel):
            # The whole process group got it (systemd's default KillMode, a shell's Ctrl-C, a
            # test's killpg): the sentinel, which django-q2 leaves on SIGTERM's default, is
            # gone, and with it the processes it ran. django-q2's stop would set the shared
            # stop event, whose notify waits for the dead sentinel to wake: forever.
            logger.info("Q Cluster %s stopped with its process group.", self.name)
            self.start_event = self.stop_event = None
            return
        super().sig_handler(signum, frame)


class Command(DjangoQCommand):
    help = "Starts a Django Q Cluster; a SIGTERM ends long-running tasks early (Keelson)."

    def handle(self, *args, **options) -> None:
        settings.SECRET_KEY  # noqa: B018 (django-q2 checks it is set before starting)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        worker_stop.ignore_in_cluster()
        cluster = PromptStopCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
