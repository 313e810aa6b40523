"""The app as a Model Context Protocol server, through a real MCP client (the ``mcp`` package) over
streamable HTTP, as an assistant would reach it."""

from __future__ import annotations

import ast
import asyncio
import base64
import io
import json

import pytest
from PIL import Image

from conftest import EXAMPLES

mcp = pytest.importorskip("mcp", reason="the MCP server needs gradio[mcp] (requirements.txt)")
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

TOOLS = {"analyze", "annotate", "summarize_video"}


def data_url(path, kind: str = "image/jpeg") -> str:
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()


def with_session(server: str, work):
    async def run():
        async with streamable_http_client(server + "gradio_api/mcp/") as (read, write, _):
            async with mcp.ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def test_the_schema_lists_the_tools_with_their_argument_types(server):
    import httpx

    schema = {tool["name"]: tool for tool in httpx.get(server + "gradio_api/mcp/schema", timeout=30).json()}
    kinds = {name: tool["meta"]["mcp_type"] for name, tool in schema.items()}
    # predict and analyze_video (several outputs each) stay API endpoints only
    assert {name for name, kind in kinds.items() if kind == "tool"} == TOOLS
    assert {name for name, kind in kinds.items() if kind == "resource"} == {"emotions", "model_card"}
    for name in ("analyze", "annotate"):
        properties = schema[name]["inputSchema"]["properties"]
        assert properties["path"]["type"] == "string" and "url" in properties["path"]["format"]
        assert properties["model"]["enum"] == ["Fast", "Accurate"] and properties["model"]["default"] == "Fast"
        assert properties["path"]["description"].startswith("the photo")
    assert schema["summarize_video"]["inputSchema"]["properties"]["every"]["type"] == "integer"  # gr.Number(precision=0)


def test_an_mcp_client_lists_the_tools_and_gets_every_face_of_a_group_photo(server):
    from gradio_client import Client, handle_file

    photo = EXAMPLES / "two_faces.jpg"

    async def work(session):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        faces = await session.call_tool("analyze", {"path": data_url(photo)})
        annotated = await session.call_tool("annotate", {"path": data_url(photo), "model": "Accurate"})
        labels = await session.read_resource("fer://emotions")
        card = await session.read_resource("fer://model-card/Fast")
        templates = (await session.list_resource_templates()).resourceTemplates
        return tools, faces, annotated, labels, card, templates

    tools, faces, annotated, labels, card, templates = with_session(server, work)
    assert set(tools) == TOOLS  # nothing of the page's own (picking a face, downloads, webcam frames)
    assert all(tool.description for tool in tools.values())
    assert not faces.isError
    # Gradio gives a dict as its Python text; every face, as /analyze returns them
    answer = ast.literal_eval(faces.content[0].text)
    expected = Client(server, verbose=False).predict(handle_file(str(photo)), api_name="/analyze")
    assert answer == expected and len(answer["faces"]) == 2
    assert all(set(face) == {"box", "score", "label", "scores", "uncertain"} and len(face["scores"]) == 7
               for face in answer["faces"])
    image, url = annotated.content
    assert not annotated.isError and image.type == "image" and image.mimeType == "image/jpeg"
    assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == Image.open(photo).size
    assert url.text.startswith("Image URL: http")
    emotions = json.loads(labels.contents[0].text)
    assert emotions["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert set(emotions["uncertain_below"]) == {"Fast", "Accurate"}
    assert [t.uriTemplate for t in templates] == ["fer://model-card/{model}"] and "balanced accuracy" in card.contents[0].text.lower()


def test_an_mcp_client_gets_a_videos_faces_summarised(server, tmp_path):
    from videos import two_face_video

    video = two_face_video(tmp_path / "two.mp4")
    summary = with_session(server, lambda session: session.call_tool(
        "summarize_video", {"path": data_url(video, "video/mp4"), "every": 2}))
    answer = ast.literal_eval(summary.content[0].text)
    assert not summary.isError and answer["analysed_frames"] == 4 and set(answer["tracks"]) == {"1", "2"}
