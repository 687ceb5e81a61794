"""Public mode through the API: two visitors (two gradio_client sessions) and one with an owner token.

The app runs with HICRA_LAB_PUBLIC=1 and a queue of one waiting run
(HICRA_LAB_MAX_QUEUE=1, see the ``public_app_url`` fixture); runs use the
tiny-smoke preset, and the first is stopped by its owner at the end.
"""

import time

import pytest

gradio_client = pytest.importorskip("gradio_client")
TOKEN = "test-owner-token-0123456789"


def launch(client, name, steps, **kw):
    message, run = client.predict(name, "tiny-smoke", "HICRA", 0.2, steps, "0", 8, "ground-truth", "tiny",
                                  api_name="/launch", **kw)
    return message


def wait_ended(client, name, timeout=900):  # far above what a run needs: the shared test machine can be slow
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(name, api_name="/refresh")[0]
        if any(f" · {s}" in status for s in ("stopped", "failed", "finished")):  # "**name** · state · ..."
            return status
        time.sleep(1)
    raise AssertionError(f"{name} did not end: {status}")


def test_runs_belong_to_who_started_them_and_the_queue_is_shared(public_app_url):
    alice = gradio_client.Client(public_app_url, verbose=False)
    bob = gradio_client.Client(public_app_url, verbose=False)
    # 50 steps: it is still running while the rest of the test talks to the app; alice stops it at the end.
    assert launch(alice, "alice-run", 50).startswith("Run **alice-run** running")

    refused = "belongs to another visitor: you can watch and compare it, but only they can"
    assert refused + " stop it" in bob.predict("alice-run", api_name="/stop")
    assert refused + " delete it" in bob.predict("alice-run", api_name="/delete")
    assert refused + " resume it" in bob.predict("alice-run", api_name="/resume")
    archive, message = bob.predict("alice-run", api_name="/download_adapter")
    assert archive is None and refused + " download its adapter" in message
    assert "another visitor's run" in bob.predict("alice-run", api_name="/refresh")[0]
    assert "**your run**" in alice.predict("alice-run", api_name="/refresh")[0]

    # One queued or running run per visitor; one waiting run in all (HICRA_LAB_MAX_QUEUE=1).
    assert "you already have 1 run queued or running ('alice-run': running)" in launch(alice, "alice-2", 2)
    assert launch(bob, "bob-run", 2).endswith("queued: hicra, seed 0, 2 steps. 1 run ahead of it.")
    carol = gradio_client.Client(public_app_url, verbose=False)
    assert "the queue is full: 2 runs ahead (1 running, 1 waiting)" in launch(carol, "carol-run", 2,
                                                                              owner_token=TOKEN)
    assert bob.predict("bob-run", api_name="/stop").startswith("Stopping **bob-run** (stopped)")
    assert bob.predict("bob-run", api_name="/delete") == "Deleted **bob-run**."

    # An owner token keeps a run yours across API sessions (the page keeps one in the browser).
    assert "1 run ahead of it" in launch(carol, "carol-run", 2, owner_token=TOKEN)
    later = gradio_client.Client(public_app_url, verbose=False)
    assert refused + " stop it" in later.predict("carol-run", api_name="/stop")
    assert later.predict("carol-run", TOKEN, api_name="/stop").startswith("Stopping **carol-run**")
    assert later.predict("carol-run", TOKEN, api_name="/delete") == "Deleted **carol-run**."
    assert "owner_token must be 16 to 128" in later.predict("carol-run", "guess", api_name="/stop")

    assert alice.predict("alice-run", api_name="/stop").startswith("Stopping **alice-run**")
    wait_ended(alice, "alice-run")
    assert alice.predict("alice-run", api_name="/delete") == "Deleted **alice-run**."
