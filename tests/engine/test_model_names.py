"""Model names: the readable name a person gave, with only what a file name cannot hold replaced."""

import pytest

from mnist_model.engine.storage import (
    MAX_NAME_BYTES,
    MAX_NAME_CHARS,
    import_model,
    list_models,
    read_card,
    rename_model,
    sanitize_model_name,
    save_model,
)


@pytest.mark.parametrize("text, name", [
    ("run 1/2", "run 1-2"),  # was "2": everything before a "/" was lost
    ("tiny <i>net</i>", "tiny i-net-i"),  # was "i"
    ("my model (v2).keras", "my model (v2)"),  # spaces and brackets are fine in a file name
    ("Ünïcödé naïve 🙂", "Ünïcödé naïve 🙂"),
    ("run - final", "run - final"),  # a person's own hyphen stays
    ("seed_1-v2", "seed_1-v2"),
    ("v1.2", "v1-2"),  # a dot would part the name from its card: "v1.2.json" is also "v1" + ".2.json"
    ("a:b*c?d\"e|f", "a-b-c-d-e-f"),  # what Windows cannot hold either
    ("C:\\Users\\ann\\My Model!.keras", "C-Users-ann-My Model!"),
    ("../../etc/passwd.keras", "etc-passwd"),  # the name stays a name: the model stays in its folder
    ("a/../b", "a-b"),
    (".hidden.keras", "hidden"),  # never a hidden file
    ("  two   spaces\tand a tab\n", "two spaces and a tab"),
    ("bell\x07here", "bell-here"),
    ("x.KERAS", "x"),
    ("", "model"),
    ("..", "model"),
    ("///", "model"),
    ("con", "con-model"),  # a name Windows reserves for a device
    ("LPT1", "LPT1-model"),
    ("x" * 100 + ".keras", "x" * MAX_NAME_CHARS),
    ("a" * 59 + "!!b", "a" * 59 + "!"),
    ("a" * 59 + "/b", "a" * 59),  # cut at 60, the dangling "-" goes
])
def test_model_names_keep_what_a_file_name_can_hold(text, name):
    assert sanitize_model_name(text) == name


def test_a_long_name_of_wide_characters_fits_a_file_name():
    name = sanitize_model_name("🙂" * 70)
    assert len(name.encode()) <= MAX_NAME_BYTES and name == "🙂" * (MAX_NAME_BYTES // 4)
    assert len((name + ".top_patches.npz").encode()) <= 255


@pytest.fixture
def good(tmp_path, tiny_model):
    return save_model(tiny_model, tmp_path / "good.keras")


def test_an_upload_and_a_rename_keep_the_readable_name(good, tmp_path):
    folder = tmp_path / "models"
    path = import_model(good.read_bytes(), "run 1/2.keras", folder, uploaded_by="ann")
    assert path.name == "run 1-2.keras" and read_card(path)["original_name"] == "run 1/2.keras"
    renamed = rename_model(path, "tiny <i>net</i> v1.2")
    assert renamed.name == "tiny i-net-i v1-2.keras" and read_card(renamed)["uploaded_by"] == "ann"
    assert [e.name for e in list_models(folder) if not e.bundled] == ["tiny i-net-i v1-2"]
