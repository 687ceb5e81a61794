"""Two processes (gloo, CPU) on shares of a batch take the same step as one process on all of it."""

import dataclasses
import os
import socket

import torch
import torch.multiprocessing as mp

# 4 prompts x 4 responses, short: the point is the arithmetic of the update, not the learning.
SMALL = dict(prompts_per_step=4, group_size=4, max_new_tokens=32, eval_every=0, threads=1)


def lora_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def _worker(rank, world, port, episode_path, out_path):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from training.config import preset
    from training.loop import Trainer

    trainer = Trainer(preset("tiny-cpu", **SMALL))
    episode = torch.load(episode_path, weights_only=False)
    share = episode.groups(list(range(rank, SMALL["prompts_per_step"], world)), SMALL["group_size"])
    trainer.update(share, 0)
    if rank == 0:
        torch.save(lora_state(trainer.model), out_path)
    dist.destroy_process_group()


def test_two_processes_equal_one(tmp_path):
    from training.config import preset
    from training.loop import Trainer

    assert int(os.environ.get("WORLD_SIZE", "1")) == 1
    trainer = Trainer(preset("tiny-cpu", **SMALL))
    episode = trainer.collect(0)
    rewards = torch.tensor([1.0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0])  # every group mixed
    episode = dataclasses.replace(episode, rewards=rewards)
    torch.save(episode, tmp_path / "episode.pt")
    initial = lora_state(trainer.model)
    trainer.update(episode, 0)
    single = lora_state(trainer.model)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(tmp_path / "episode.pt"), str(tmp_path / "two.pt")), nprocs=2, join=True)
    two = torch.load(tmp_path / "two.pt")
    assert single.keys() == two.keys()
    for name in single:
        assert torch.allclose(single[name], two[name], atol=1e-6, rtol=1e-5), name
    assert any(not torch.equal(single[n], initial[n]) for n in single)  # the step did something
