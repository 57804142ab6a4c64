import pytest

from booksync.settings import ConfigError, settings_from
from local import template as tpl


def _template_env() -> dict[str, str]:
    template = tpl.load()
    names = template["Globals"]["Function"]["Environment"]["Variables"]
    numbers = {"API_KEY_RATE_PER_SECOND": "20", "API_KEY_BURST": "60"}
    # a literal in the template is what the functions get; a Ref, a stand-in value
    return {
        name: numbers.get(name) or (f"value-of-{name}" if isinstance(value, dict) else str(value))
        for name, value in names.items()
    }


def test_settings_read_every_variable_the_template_sets():
    settings = settings_from(_template_env())
    assert settings.tables.records == "value-of-RECORDS_TABLE"
    assert settings.queues.url("xero", "pull") == "value-of-XERO_PULL_QUEUE_URL"
    assert settings.providers.qbo_token_url == "value-of-QBO_TOKEN_URL"


def test_missing_variables_fail_at_start_naming_each_one():
    env = _template_env()
    del env["LINKS_TABLE"]
    env["QBT_API_BASE"] = "  "
    with pytest.raises(ConfigError) as info:
        settings_from(env)
    assert "LINKS_TABLE" in str(info.value)
    assert "QBT_API_BASE" in str(info.value)
    assert "RECORDS_TABLE" not in str(info.value)


def test_template_sets_every_variable_settings_needs():
    # the template is the cloud's only source of configuration: nothing may be missing
    settings_from(_template_env())


def test_the_dead_letter_receive_count_is_the_templates_and_must_be_a_number():
    assert settings_from(_template_env()).max_receives == 12
    env = _template_env()
    env["MAX_RECEIVE_COUNT"] = "twelve"
    with pytest.raises(ConfigError) as info:
        settings_from(env)
    assert "MAX_RECEIVE_COUNT" in str(info.value)


def test_an_optional_setting_may_be_empty_and_a_number_must_be_one():
    env = _template_env()
    env["PUBLIC_BASE_URL"] = ""
    assert settings_from(env).public_base_url == ""
    env["API_KEY_BURST"] = "lots"
    with pytest.raises(ConfigError) as info:
        settings_from(env)
    assert "API_KEY_BURST" in str(info.value)
