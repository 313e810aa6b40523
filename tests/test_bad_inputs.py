"""The bad-input corpus (tests/bad_inputs.py) through the library and the CLI: a result or a clear
message for every kind, nothing leaked, nothing lost. ``python tests/bad_inputs.py`` prints the table."""

import re
import warnings

import pytest
from PIL import Image

from bad_inputs import LEAK, cli_answer, corpus, library_answer, problems, run_cli
from fer.image import ImageError, load_image


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, corpus(folder)


def test_the_corpus_covers_at_least_30_kinds(bad):
    _, cases = bad
    assert len(cases) >= 30
    assert sum(not c.video for c in cases.values()) >= 30 and sum(c.video for c in cases.values()) >= 5


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")  # Pillow's, for corrupt_exif; the library leaves its warnings be
def test_library_gives_a_result_or_a_clear_message_for_every_kind(bad, recognizer):
    folder, cases = bad
    found = {}
    pillow_limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own bomb check must stay silent
        for kind, case in cases.items():
            answer = library_answer(recognizer, case)
            found[kind] = problems(case, answer, folder)
            if answer.status == "refused" and not case.video:  # load_image says the same as predict
                with pytest.raises(ImageError) as refused:
                    load_image(case.path)
                if str(refused.value) != answer.text:
                    found[kind].append("load_image and predict disagree")
    assert Image.MAX_IMAGE_PIXELS == pillow_limit  # no process-wide setting changed behind other threads
    assert {k: v for k, v in found.items() if v} == {}


def test_cli_keeps_every_file_and_gives_each_its_own_record(bad, tmp_path):
    folder, cases = bad
    out = tmp_path / "annotated"
    code, records, stderr = run_cli(cases, out)
    assert code == 0, stderr[-3000:]
    assert not re.search(r"Traceback|DecompressionBomb|UserWarning|EXIF", stderr), stderr[-3000:]
    assert [r["path"] for r in records] == [str(c.path) for c in cases.values()]  # one record each, in order
    found = {kind: problems(case, cli_answer(record), folder) for (kind, case), record in zip(cases.items(), records)}
    assert {k: v for k, v in found.items() if v} == {}
    for kind, record in zip(cases, records):
        if cases[kind].good:
            assert record["error"] is None and (record.get("faces") or record["video"]["tracks"]), kind
    # annotated copies: one per result, named by position and a cleaned name, all inside --out
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == sum(r["error"] is None for r in records)
    assert all(re.fullmatch(r"\d{2}_[\w-]+_fer\.(png|webm)", name) for name in written), written
    assert all(p.resolve().parent == out.resolve() for p in out.iterdir())


def test_cli_exit_code_is_non_zero_only_when_nothing_could_be_read(bad):
    _, cases = bad
    refused = {k: c for k, c in cases.items() if c.expect == "error"}
    code, records, stderr = run_cli(refused)
    assert code == 1 and len(records) == len(refused) and all(r["error"] for r in records)
    assert not any(re.search(LEAK, r["error"]) for r in records)
