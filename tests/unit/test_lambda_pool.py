from pathlib import Path

from local.lambdas import FunctionPool
from local.template import FunctionSpec


def _pool(tmp_path: Path) -> FunctionPool:
    code = tmp_path / "echo"
    code.mkdir()
    (code / "app.py").write_text(
        "def lambda_handler(event, context):\n    return {'seen': event['n']}\n"
    )
    spec = FunctionSpec(
        logical_id="EchoFunction",
        code_uri=code,
        handler="app.lambda_handler",
        timeout=30,
        environment={},
        events={},
    )
    return FunctionPool(spec, {}, tmp_path / "logs", max_instances=1)


def test_an_instance_counts_one_cold_start_and_its_answers_carry_only_the_result(tmp_path):
    pool = _pool(tmp_path)
    try:
        answers = [pool.invoke({"n": n}) for n in range(3)]
    finally:
        pool.stop()
    assert answers == [{"seen": 0}, {"seen": 1}, {"seen": 2}]
    assert len(pool.cold_starts) == 1  # one instance, one init
