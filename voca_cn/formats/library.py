"""``--template`` resolution: built-in heads (package data), imported ones in the user template
folder, template files, edited meshes of a known topology, and avatars."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.template import Template
from voca_cn.formats.obj import read_mesh

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "assets" / "templates"


def user_template_dir() -> Path:
    """Where imported templates go by default (``$VOCA_CN_HOME/templates``)."""
    home = Path(os.environ.get("VOCA_CN_HOME", Path.home() / ".cache" / "voca_cn"))
    return home / "templates"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.npz"))


def known_templates() -> dict[str, Path]:
    """Built-in templates and those imported into the user template directory."""
    found = {p.stem: p for p in sorted(user_template_dir().glob("*.npz"))}
    found.update({p.stem: p for p in sorted(BUILTIN_DIR.glob("*.npz"))})
    return found


class UnknownTopology(VocaError):
    """A mesh of no known template's topology (``voca_cn.rig`` can rig it)."""


def edited_head(path: Path) -> Template:
    """An OBJ/PLY whose topology matches a known template: that template's basis on the file's
    vertices (an edited head keeps its rig)."""
    verts, faces = read_mesh(path)
    known = known_templates()
    sizes = []
    for name, p in known.items():
        t = Template.load(p)
        if t.n_vertices == len(verts) and t.faces.shape == faces.shape and np.array_equal(t.faces, faces):
            return t.with_vertices(verts, name=f"{name}:{path.stem}")
        sizes.append(f"{name} ({t.n_vertices} vertices)")
    sizes = ", ".join(sizes)
    raise UnknownTopology(f"mesh {path} ({len(verts)} vertices, {len(faces)} triangles) matches no known "
                    f"topology; accepted: {sizes}. Export the head from `voca-cn template export`, "
                    "edit it without changing topology, or import it as a template")
