"""The add-on's worker thread: jobs run off the calling thread, in order, report progress, cancel at the next
tile, and turn errors into one-line messages (never a traceback for the user)."""
from __future__ import annotations

import threading

import numpy as np

from addon import jobs
from addon.model_picker import AUTO, choose
from addon.runtime import ModelError
from addon.worker import Job, Worker


def test_jobs_run_in_order_off_the_calling_thread():
    worker, ran = Worker(), []
    jobs = [worker.submit(Job(f"job {i}", lambda job, i=i: ran.append((i, threading.current_thread().name)) or i))
            for i in range(3)]
    assert all(job.wait(30) for job in jobs)
    assert [i for i, _ in ran] == [0, 1, 2] and {name for _, name in ran} == {"postpass-worker"}
    assert [job.result for job in jobs] == [0, 1, 2] and all(job.progress == 1.0 for job in jobs)
    worker.stop()
    assert not worker.alive


def test_cancel_stops_a_running_network_at_the_next_tile(models_dir):
    choice = choose("denoise", AUTO, [models_dir])
    options = jobs.RunOptions(choice.model, choice.models_dir, device="cpu", tile_size=32)
    tiles_seen = []

    def work(job):
        def progress(done, total):
            tiles_seen.append(done)
            if done == 2:
                job.cancel()  # what Esc does, from the main thread, while the network runs
            job.step(done / total, f"tile {done} of {total}")
        return jobs.run_arrays("denoise", {"color": np.ones((128, 192, 3), np.float32)}, options, progress=progress)

    job = Job("denoise", work)
    job.run()
    assert job.cancelled and job.result is None and job.error is None and tiles_seen == [1, 2]


def test_errors_become_one_line_messages():
    def missing_model(job):
        raise ModelError("no denoise model installed (looked in /nowhere)")

    def bug(job):
        return {}["missing"]

    expected, unexpected = Job("Denoising", missing_model), Job("Denoising", bug)
    expected.run()
    unexpected.run()
    assert expected.error == "no denoise model installed (looked in /nowhere)"
    assert unexpected.error.startswith("Denoising failed: KeyError") and "\n" not in unexpected.error
    assert expected.done and unexpected.done and not expected.cancelled


def test_stopping_the_worker_cancels_queued_jobs_and_cleans_up_after_them():
    worker, started, release, cleaned = Worker(), threading.Event(), threading.Event(), []
    running = worker.submit(Job("slow", lambda job: started.set() or release.wait(30)))
    queued = worker.submit(Job("queued", lambda job: "ran", cleanup=lambda: cleaned.append("temporary files")))
    assert started.wait(30)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    assert queued.wait(30) and queued.cancelled and queued.result is None and cleaned == ["temporary files"]
    release.set()
    stopper.join(30)
    assert running.done and running.result is True and not worker.alive
