"""The user guide says true things: its links resolve, its commands parse, its regions are valid."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from bams3 import __version__
from bams3.cli import build_parser, main
from bams3.regions import parse_region

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "GUIDE.md"
PAGES = [REPO / "README.md", GUIDE, REPO / "docs" / "HANDLERS.md", REPO / "docs" / "CLI.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (page.parent / path).exists(), f"{page.name}: link to missing {target}"
        elif anchor:
            assert anchor in anchors, f"{page.name}: no heading for #{anchor}"


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()
            if line.strip().startswith("bams3 ")]


@pytest.mark.parametrize("command", _commands())
def test_guide_commands_are_real_bams3_commands(command: str) -> None:
    args = shlex.split(command, comments=True)[1:]
    build_parser().parse_args(args)  # SystemExit (a usage error) fails the test


def test_guide_region_examples_parse() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Regions", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"^\| `([^`]+)` \|", section, re.M)
    assert len(examples) >= 6
    lengths = {"chr1": 248_956_422, "chr20": 64_444_167, "HLA-A*01:01": 3_503}
    for example in examples:
        parse_region(example, lengths)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"bams3 {__version__}"


def test_every_config_key_is_documented() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    readme = (REPO / "config" / "README.md").read_text(encoding="utf-8")

    def keys(node: dict, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        out = []
        for name, child in node.get("properties", {}).items():
            out.append((*path, name))
            if isinstance(child, dict):
                out += keys(child, (*path, name))
        return out

    missing = [".".join(key) for key in keys(schema) if f"`{key[-1]}`" not in readme]
    assert not missing, f"config/README.md does not document: {', '.join(missing)}"
