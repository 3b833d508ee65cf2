"""Reading tracing settings: sources, precedence, defaults and clear errors."""
import pytest

from chaostracing._run.config import (
    ConfigError,
    load_config,
    validate,
)


def test_nothing_configured_means_no_tracing():
    config = load_config({}, {}, environ={})
    assert config.provider == "noop"
    assert not config.enabled


def test_the_original_readme_configuration_works_as_written():
    config = load_config(
        {"tracing_provider": "jaeger", "tracing_host": "",
         "tracing_port": 6831},
        environ={},
    )
    assert (config.provider, config.host, config.port) == (
        "jaeger", "127.0.0.1", 6831)


def test_jaeger_defaults():
    config = load_config({"tracing_provider": "jaeger"}, environ={})
    assert config.port == 6831
    assert config.service_name == "chaostoolkit"
    assert config.sampler_rate == 1.0


def test_control_arguments_win_over_configuration_over_environment():
    env = {"JAEGER_AGENT_HOST": "env-host", "JAEGER_AGENT_PORT": "1111"}
    config = load_config(
        {"tracing_provider": "jaeger", "tracing_host": "conf-host",
         "tracing_port": 2222},
        {"tracing_port": 3333},
        environ=env,
    )
    assert config.host == "conf-host"
    assert config.port == 3333
    assert config.sources["tracing_port"] == "control arguments"
    assert config.sources["tracing_host"] == "configuration"


def test_environment_variables_alone_select_jaeger():
    config = load_config(
        {}, {},
        environ={"JAEGER_AGENT_HOST": "agent", "JAEGER_AGENT_PORT": "7000"},
    )
    assert (config.provider, config.host, config.port) == (
        "jaeger", "agent", 7000)


def test_an_explicit_noop_provider_turns_tracing_off_despite_the_environment():
    config = load_config({"tracing_provider": "noop"},
                         environ={"JAEGER_AGENT_HOST": "agent"})
    assert not config.enabled


def test_an_ipv6_literal_host_is_accepted_with_or_without_brackets():
    for host in ("::1", "[::1]"):
        assert load_config({"tracing_host": host}, environ={}).host == "::1"


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("tracing_provider", "zipkin",
         "expected one of 'jaeger', 'otlp', 'file', 'noop'"),
        ("tracing_provider", 42, "expected one of"),
        ("tracing_port", "abc", "expected an integer from 1 to 65535"),
        ("tracing_port", 0, "expected an integer from 1 to 65535"),
        ("tracing_port", -1, "expected an integer from 1 to 65535"),
        ("tracing_port", 65536, "expected an integer from 1 to 65535"),
        ("tracing_port", True, "expected an integer"),
        ("tracing_port", 6831.5, "expected an integer"),
        ("tracing_host", "  ", "expected a non-empty string"),
        ("tracing_host", "a b", "expected a host name or an IP address"),
        ("tracing_host", 12, "expected a non-empty string"),
        ("tracing_sampler_rate", 2, "expected a number from 0 to 1"),
        ("tracing_sampler_rate", float("nan"), "expected a number"),
        ("tracing_instrument_requests", "yes", "expected true or false"),
    ],
)
def test_bad_values_name_the_key_and_what_is_expected(key, value, expected):
    configuration = {"tracing_provider": "jaeger", key: value}
    with pytest.raises(ConfigError) as error:
        load_config(configuration, environ={})
    assert key in str(error.value)
    assert expected in str(error.value)


def test_control_arguments_are_validated_with_unknown_keys_reported():
    problems = validate({}, {"tracing_port": "x", "tracing_hots": "h"})
    assert any("unknown control argument 'tracing_hots' (did you mean "
               "tracing_host?)" in p for p in problems)
    assert any("tracing_port is 'x'" in p for p in problems)
    assert validate({}, {"tracing_port": 6831}) == []


def test_every_problem_is_reported_not_only_the_first():
    problems = validate({"tracing_provider": "jaeger", "tracing_port": "abc",
                         "tracing_sampler_rate": 7,
                         "tracing_provder": "jaeger"}, {})
    assert len(problems) == 3, problems
    assert "'tracing_provder' in the configuration is not a tracing " \
        "setting (did you mean tracing_provider?)" in problems


def test_run_time_references_are_not_validated():
    assert validate({"tracing_port": "${port}",
                     "tracing_host": {"type": "env", "key": "HOST"}}, {}) == []


def test_only_the_settings_of_the_chosen_provider_are_checked():
    # the file provider has no port: a bad one must not switch it off
    config = load_config({"tracing_provider": "file", "tracing_port": "abc"},
                         environ={})
    assert config.provider == "file"
    with pytest.raises(ConfigError):
        load_config({"tracing_provider": "jaeger", "tracing_port": "abc"},
                    environ={})


def test_every_setting_can_come_from_a_chaostracing_variable():
    config = load_config({}, {}, environ={
        "CHAOSTRACING_PROVIDER": "jaeger", "CHAOSTRACING_PORT": "7001",
        "CHAOSTRACING_MAX_TAG_LENGTH": "99"})
    assert (config.port, config.max_tag_length) == (7001, 99)
    assert config.sources["tracing_port"] == "$CHAOSTRACING_PORT"


def test_the_probes_query_url_is_checked_by_validate_not_by_the_control():
    from chaostracing._run.config import validate

    bad = {"tracing_provider": "jaeger", "tracing_query_url": "jaeger:16686"}
    (problem,) = validate(bad)
    assert problem.startswith("tracing_query_url is 'jaeger:16686': expected "
                              "an http:// or https:// URL")
    # a wrong probe setting must not cost the run its trace
    assert load_config(bad, environ={}).enabled
    assert validate({"tracing_query_url": "http://jaeger:16686"}) == []
