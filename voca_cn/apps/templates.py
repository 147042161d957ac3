"""``voca-cn template``: list the templates, export one as OBJ, rig any head mesh, import ICT-FaceKit."""

from __future__ import annotations

from pathlib import Path


def run(args) -> None:
    """``voca-cn template list | export NAME PATH | rig HEAD | import-ict DIR``."""
    from voca_cn.face.template import Template
    from voca_cn.formats.library import known_templates, user_template_dir
    from voca_cn.rig import resolve

    if args.action == "list":
        for name, path in known_templates().items():
            t = Template.load(path)
            missing = ", ".join(t.missing) or "none"
            print(f"{name}\t{t.n_vertices} vertices\t{len(t.faces)} triangles\tmissing: {missing}\t"
                  f"{t.licence}\t{path}")
    elif args.action == "export":
        from voca_cn.formats.obj import ObjWriter

        t = resolve(args.name)
        out = Path(args.path)
        tmp = out.with_name(out.name + ".part")
        ObjWriter(t).write(tmp, t.vertices)
        tmp.replace(out)
        print(out)
    elif args.action == "rig":
        from voca_cn.rig import rig_to_file

        print(rig_to_file(args.head, args.name, args.out))
    elif args.action == "import-ict":
        from voca_cn.formats.ict import identity_coefficients, import_ict

        identity = None
        if args.identity_seed is not None:
            identity = identity_coefficients(args.identity_seed)
        if args.identity is not None:
            identity = args.identity
        name = args.name or ("ict" if identity is None else
                             f"ict-{args.identity_seed}" if args.identity_seed is not None else "ict-custom")
        t = import_ict(args.dir, identity, name=name)
        out = Path(args.out) if args.out else user_template_dir() / f"{name}.npz"
        t.save(out)
        print(out)
