"""The bad-input corpus (tests/bad_inputs.py) through the running app's API, as a client sends it:
a result or a clear message for every file, and the server still answering afterwards."""

import re

import pytest

from bad_inputs import LEAK, Answer, corpus, problems
from conftest import EXAMPLES

NOT_UPLOADABLE = {"missing_file", "folder_named_jpg"}  # a client cannot send these


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, {k: c for k, c in corpus(folder).items() if k not in NOT_UPLOADABLE}


def api_answer(client, case) -> Answer:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        if case.video:
            summary = client.predict(handle_file(str(case.path)), 1, api_name="/analyze_video")[3]
            return Answer("result", f"{summary['analysed_frames']} frames", len(summary["tracks"]))
        faces = client.predict(handle_file(str(case.path)), api_name="/analyze")["faces"]
        return Answer("result", f"{len(faces)} face(s)", len(faces))
    except AppError as err:
        return Answer("refused", str(err))
    except Exception as err:  # anything else is the app failing the visitor
        return Answer("crash", f"{type(err).__name__}: {err}")


def test_every_kind_gets_a_result_or_a_clear_message_and_the_server_survives(server, cases):
    from gradio_client import Client, handle_file

    folder, kinds = cases
    client = Client(server, verbose=False)
    found = {}
    for kind, case in kinds.items():
        answer = api_answer(client, case)
        issues = problems(case, answer, folder)
        if answer.status == "refused" and re.search(r"/tmp/|gradio|\.venv|site-packages", answer.text):
            issues.append(f"message names a server path: {answer.text!r}")
        if issues:
            found[kind] = issues
    assert not found, found
    assert len(kinds) >= 30
    answer = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/analyze")
    assert len(answer["faces"]) == 2  # still serving


def test_leak_pattern_catches_what_it_should():
    assert re.search(LEAK, "UnidentifiedImageError: cannot identify") and not re.search(LEAK, "the file is empty")
