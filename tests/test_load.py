"""Load: 1,000 activities, 8 in the background, the hypothesis continuously."""
from conftest import assert_one_trace
from load_experiment import load_experiment


def test_a_thousand_activities_every_span_delivered_and_parented(chaos, agent):
    experiment = load_experiment(configuration={
        "tracing_provider": "jaeger", "tracing_port": agent.port})
    run = chaos(experiment, extra_args=[
        "--hypothesis-strategy", "continuously",
        "--hypothesis-frequency", "0.05"], timeout=300)
    assert run.status == "completed", run.log[-2000:]
    states = run.journal["steady_states"]
    hypothesis_runs = 2 + len(states["during"])
    # experiment, method, rollbacks, activities, each hypothesis run + probe
    expected = 3 + 1000 + 2 * hypothesis_runs
    spans = agent.wait_for(expected, timeout=10)
    assert len(spans) == expected
    assert len({s.span_id for s in spans}) == expected
    assert_one_trace(spans)
    ids = {s.span_id: s for s in spans}
    method = next(s for s in spans if s.operation_name == "Method")
    activities = [s for s in spans if s.operation_name.startswith(
        ("quick-", "background-"))]
    assert len(activities) == 1000
    assert all(a.parent_id == method.span_id for a in activities)
    backgrounds = [a for a in activities
                   if a.tags.get("chaostoolkit.activity.background")]
    assert len(backgrounds) == 8
    for probe in (s for s in spans if s.operation_name == "folder-exists"):
        assert ids[probe.parent_id].operation_name == "the folder is there"
    assert len(states["during"]) >= 2
