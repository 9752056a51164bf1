"""The README's Python snippet runs as written, and every relative link in the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import seamrefine
from seamrefine.app.imagefiles import load_image, load_mask

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "server" / "seamrefine" / "samples"
DOCS = [REPO / "README.md", REPO / "MODEL.md", *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "plugins").glob("*/README.md"))]


def python_snippets(markdown: str) -> list[str]:
    """The ```python blocks of a markdown text, dedented."""
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", markdown, re.S | re.M)
    return ["\n".join(line[len(indent):] for line in code.splitlines()) for indent, code in blocks]


def test_the_readme_has_a_python_snippet():
    assert len(python_snippets((REPO / "README.md").read_text())) == 1


@pytest.mark.slow
def test_readme_python_snippet_runs():
    """With the bundled sample and the shipped model, as a user would run it after `pip install .`."""
    image = load_image(SAMPLES / "coffee_composite.png")
    mask = load_mask(SAMPLES / "coffee_mask.png")
    namespace = {"image": image, "mask": mask}
    exec(python_snippets((REPO / "README.md").read_text())[0], namespace)
    for name in ("out", "lin"):
        out = namespace[name]
        assert out.shape == image.shape and out.dtype == image.dtype and (out != image).any()


def test_refine_is_the_inference_function():
    from seamrefine.runtime import inference

    assert seamrefine.refine is inference.refine


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:|#", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_exist(doc):
    missing = [t for t in _links(doc) if not (doc.parent / t.split("#")[0]).exists()]
    assert not missing, f"{doc.name} links to missing files: {missing}"


def test_link_finder_sees_links():
    assert "plugins/krita/README.md" in _links(REPO / "README.md")
