from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import default_data_dir, load_settings
from rag.errors import ConfigError


def test_defaults_and_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RAG_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    s = load_settings()
    assert s.data_dir == tmp_path / "rag" == default_data_dir()
    assert (s.store, s.collection, s.llm) == ("chroma", "default", "local")
    assert s.chroma_path == tmp_path / "rag" / "chroma" and s.call_log_path.name == "calls.db"


def test_precedence_flags_over_env_over_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text('collection = "from-toml"\ntop_k = 3\nchunk_tokens = 128\n')
    monkeypatch.setenv("RAG_TOP_K", "9")
    s = load_settings(toml)
    assert (s.collection, s.top_k, s.chunk_tokens) == ("from-toml", 9, 128)
    s = load_settings(toml, top_k=2, collection=None)
    assert (s.collection, s.top_k) == ("from-toml", 2)


def test_rag_toml_in_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "rag.toml").write_text('collection = "here"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings().collection == "here"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"top_k": "many"}, "top_k"),
        ({"chunk_overlap": 300, "chunk_tokens": 200}, "chunk_overlap"),
        ({"store": "mongo"}, "store"),
        ({"collection": "a b"}, "collection"),
        ({"temperature": -1}, "temperature"),
    ],
)
def test_bad_values_name_the_setting(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    assert needle in str(info.value) and "RAG_" in str(info.value)


def test_unknown_toml_key_and_missing_file(tmp_path: Path) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text("topk = 3\n")
    with pytest.raises(ConfigError, match="topk"):
        load_settings(toml)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_wrong_env_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_MAX_TOKENS", "lots")
    with pytest.raises(ConfigError, match="max_tokens"):
        load_settings()


def test_missing_gguf_path_is_a_config_error(tmp_path: Path) -> None:
    from rag.llms import make_llm

    s = load_settings(gguf_path=tmp_path / "nope.gguf")
    with pytest.raises(ConfigError, match=r"nope\.gguf"):
        make_llm("local", s)


def test_every_setting_hint_names_a_real_flag_and_its_env_var() -> None:
    """Each setting's hint (built, then raised by a real validation error) names only flags
    some rag command has, names the flag a command has under the setting's own name, and
    names the env var ``RAG_<FIELD>``."""
    import re

    from rag.cli import option_names
    from rag.config import Settings, setting_hint

    options = option_names()
    assert {"--collection", "--top-k", "--dsn"} <= options  # the walk sees the commands
    for field in Settings.model_fields:
        hint = setting_hint(field)
        for flag in re.findall(r"--[a-z][a-z0-9-]*", hint):
            assert flag in options, f"hint of {field!r} names {flag}, which no command has"
        own_flag = "--" + field.replace("_", "-")
        if own_flag in options:
            assert own_flag in hint, f"hint of {field!r} does not name {own_flag}"
        assert re.findall(r"RAG_[A-Z0-9_]+", hint) == [f"RAG_{field.upper()}"], hint
        assert f"'{field} = ...' in rag.toml" in hint

        with pytest.raises(ConfigError) as info:
            load_settings(**{field: object()})  # no setting accepts an arbitrary object
        line = next(x for x in str(info.value).splitlines() if f"setting '{field}" in x)
        assert line.endswith(hint), line


def test_hint_names_the_flag_only_where_one_exists() -> None:
    from rag.config import setting_hint

    assert "--dsn" in setting_hint("pg_dsn") and "--mode" in setting_hint("retrieval_mode")
    assert "--" not in setting_hint("rrf_k")  # no such flag: env and rag.toml only
    with pytest.raises(ConfigError) as info:
        load_settings(rrf_k=0)
    assert "--rrf-k" not in str(info.value) and "RAG_RRF_K" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(chunk_overlap=300, chunk_tokens=200)
    assert "setting 'chunk_overlap'" in str(info.value) and "RAG_CHUNK_OVERLAP" in str(info.value)


def test_config_files_named_but_missing_or_directories_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#12 case 9: a config named by RAG_CONFIG that does not exist, and a rag.toml that is a
    directory, are errors like ``--config`` of a missing file (never silently ignored);
    ``--config`` wins over RAG_CONFIG."""
    from rag.config import load_settings
    from rag.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml \(from RAG_CONFIG\) does not exist"):
        load_settings()
    (tmp_path / "a.toml").write_text("top_k = 7\n")
    (tmp_path / "b.toml").write_text("top_k = 9\n")
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "a.toml"))
    assert load_settings().top_k == 7
    assert load_settings(tmp_path / "b.toml").top_k == 9
    monkeypatch.delenv("RAG_CONFIG")
    (tmp_path / "rag.toml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings()
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path / "rag.toml")


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("RAG_DATA_DIR", "", "data_dir"),
        ("RAG_CACHE_DIR", " ", "cache_dir"),
        ("RAG_GGUF_PATH", "", "gguf_path"),
        ("RAG_LLM_TIMEOUT_S", "inf", "llm_timeout_s"),
        ("RAG_TEMPERATURE", "nan", "temperature"),
        ("RAG_MAX_TOKENS", "1000000000", "max_tokens"),
    ],
)
def test_empty_paths_and_unbounded_numbers_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    from rag.config import load_settings
    from rag.errors import ConfigError

    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()
