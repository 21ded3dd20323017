from ksmith.plugin import threads_per_worker


def test_each_worker_gets_its_share_of_the_cores() -> None:
    assert threads_per_worker(cores=2, workers=2) == 1
    assert threads_per_worker(cores=8, workers=2) == 4
    assert threads_per_worker(cores=2, workers=4) == 1
