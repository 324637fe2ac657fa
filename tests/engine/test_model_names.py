"""Model names: the readable name a person gave, with only what a file name cannot hold replaced,
and never a name that could pass for another model's."""

import re

import pytest

from mnist_model.engine.errors import ModelFileError
from mnist_model.engine.model_names import READABLE_RULE, skeleton
from mnist_model.engine.storage import (
    MAX_NAME_BYTES,
    MAX_NAME_CHARS,
    check_name,
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
    ("Ünïcödé naïve 🙂", "Ünïcödé naïve"),  # Latin letters with accents read as themselves; the emoji goes
    ("ｆｕｌｌ ｗｉｄｔｈ", "full width"),  # NFKC
    ("clаssic", "cl-ssic"),  # a Cyrillic а between Latin letters
    ("evil\u202ecipsa", "evil-cipsa"),  # right-to-left override
    ("zero\u200bwidth", "zero-width"),
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
    name = sanitize_model_name("ẽ" * 70)  # three bytes each
    assert len(name.encode()) <= MAX_NAME_BYTES and name == "ẽ" * (MAX_NAME_BYTES // 3)
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


@pytest.mark.parametrize("text, error", [
    ("clаssic v2", "U+0430 CYRILLIC SMALL LETTER A"),  # a homoglyph
    ("Α model", "U+0391 GREEK CAPITAL LETTER ALPHA"),
    ("abc\u202edcb", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("ab\u200bc", "U+200B ZERO WIDTH SPACE"),
    ("ab\u2066c", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ("cafe\u0301\u0301", "U+0301 COMBINING ACUTE ACCENT"),  # a second accent stacked on é
    ("my model 🙂", "U+1F642 SLIGHTLY SMILING FACE"),
    ("ıd", "U+0131 LATIN SMALL LETTER DOTLESS I"),  # no ASCII letter beneath: reads as i
    ("my (convnet, bundled) model", "may not contain the word 'bundled'"),
    ("BUNDLED", "may not contain the word 'bundled'"),
    ("bundIed", "may not contain the word 'bundled'"),  # a capital I for the l
    ("bünd-led", "may not contain the word 'bundled'"),
    ("classic (convnet, improved recipe) · 99", "U+00B7 MIDDLE DOT"),
    ("classic (convnet, improved recipe)", "may not start like the bundled model 'classic'"),
    ("Dense (dense network)", "may not start like the bundled model 'dense'"),
    ("dense (convnet)", "may not start like the bundled model 'dense'"),
])
def test_names_that_could_pass_for_another_model_are_refused_with_a_sentence(text, error):
    with pytest.raises(ModelFileError, match=re.escape(error)):
        check_name(text)


def test_the_refusal_states_what_a_name_may_hold():
    with pytest.raises(ModelFileError) as caught:
        check_name("clаssic")
    assert str(caught.value).startswith(READABLE_RULE)


@pytest.mark.parametrize("text", ["Ünïcödé naïve", "run 1/2.keras", "classic v2", "classic (v2)", "my model (v2)",
                                  "Señor's net!",
                                  "dense-2", "bell\x07here"])
def test_readable_names_pass(text):
    assert check_name(text) == sanitize_model_name(text)


@pytest.mark.parametrize("one, other", [("classic", "CLASSIC"), ("classic", "c1assic"), ("classic", "cIassic"),
                                        ("classic", "clássic"), ("dense", "Dénse"),
                                        ("modern", "modem"), ("wide net", "vvide_net"), ("zoo", "z00")])
def test_look_alike_names_share_a_skeleton(one, other):
    assert skeleton(one) == skeleton(other)


@pytest.mark.parametrize("bundled, name", [("classic", "classic"), ("classic", "CLASSIC"), ("classic", "c1assic"),
                                           ("classic", "cIassic"), ("classic", "clássic"), ("dense", "dénse"),
                                           ("dense", "DENSE")])
def test_no_rename_can_pass_for_a_bundled_model(good, tmp_path, bundled, name):
    path = import_model(good.read_bytes(), "mine.keras", tmp_path / "models")
    with pytest.raises(ModelFileError, match=f"(looks like the model '{bundled}'|'{bundled}' already exists)"):
        rename_model(path, name)


def test_no_rename_or_upload_can_pass_for_another_users_model(good, tmp_path):
    folder = tmp_path / "models"
    first = import_model(good.read_bytes(), "Anna's net.keras", folder)
    second = import_model(good.read_bytes(), "mine.keras", folder)
    with pytest.raises(ModelFileError, match="\"ANNA'S NET\" looks like the model \"Anna's net\""):
        rename_model(second, "ANNA'S NET")
    third = import_model(good.read_bytes(), "Anná's net.keras", folder)  # an upload is given a name of its own
    assert third.stem == "Anná's net-2" and first.exists()
    assert rename_model(first, "ANNA'S NET").stem == "ANNA'S NET"  # a model may look like itself


def test_an_upload_with_a_homoglyph_name_is_refused_before_anything_is_written(good, tmp_path):
    folder = tmp_path / "models"
    with pytest.raises(ModelFileError, match="CYRILLIC SMALL LETTER A"):
        import_model(good.read_bytes(), "clаssic.keras", folder)
    assert not folder.exists() or not any(folder.iterdir())
