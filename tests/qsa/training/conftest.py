"""One torch thread for the training tests, as the ``qsa`` command uses: tiny matrices run several
times faster on one thread than on two, and the bitwise-resume test compares runs at equal thread counts."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
