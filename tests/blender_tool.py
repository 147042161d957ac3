"""Blender (PyPI ``bpy``, run by the project's Blender venv) as the second, independent glTF writer and
as a reader of our ``animation.glb``. Run: ``.venv-blender/bin/python tests/blender_tool.py JOB.json``.

JOB ``{"export": [...], "read": [...]}``:
- export: ``{"path": "x.glb", "arrays": "x.npz", "objects": [OBJ...], "armature": [x, y, z] | null}``,
  OBJ ``{"name", "verts", "faces", "uv"?, "shapes": [[shape_key_name, array_key], ...], "color": [r, g, b, a],
  "texture": "png"?, "uv": (3F, 2) per corner, bottom-left origin, "parent"?, "matrix": 4x4 row-major local transform (glTF axes), "skinned": bool}``;
  arrays are glTF axes (metres, Y up); Blender's exporter converts back from its Z up.
- read: ``{"path": "x.glb", "fps": 60, "frames": [..], "shapes": [..]}`` -> per object with shape keys,
  each shape key's value at each frame after Blender's importer, printed as one JSON line.
- cache: ``{"obj": "base.obj", "pc2": "x.pc2", "frames": [..], "out": "x.npz"}`` -> the base mesh through
  Blender's OBJ importer, a Mesh Cache modifier (PC2) on it, as a user sets them up; the evaluated vertex
  positions (object space: the importer keeps the file's coordinates and turns the object) at each scene
  frame go to ``out`` as ``frames`` (len(frames), N, 3).
"""

import json
import sys

import bpy
import numpy as np
from mathutils import Matrix

# glTF (x, y, z) -> Blender (x, -z, y)
C = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)


def _material(name, color, texture):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    bsdf = m.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = color
    if texture:
        tex = m.node_tree.nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(texture)
        m.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return m


def _object(spec, arrays, armature):
    v = arrays[spec["verts"]] @ C[:3, :3].T
    faces = arrays[spec["faces"]].tolist()
    mesh = bpy.data.meshes.new(spec["name"])
    mesh.from_pydata(v.tolist(), [], faces)
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    if spec.get("uv"):
        uv = arrays[spec["uv"]]  # (3F, 2) per face corner, OBJ/Blender convention (origin bottom-left)
        layer = mesh.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", uv.ravel().tolist())
    mesh.materials.append(_material(spec["name"], spec["color"], spec.get("texture")))
    ob = bpy.data.objects.new(spec["name"], mesh)
    bpy.context.scene.collection.objects.link(ob)
    if spec["shapes"]:
        ob.shape_key_add(name="Basis")
        for name, key in spec["shapes"]:
            sk = ob.shape_key_add(name=name)
            sk.data.foreach_set("co", (v + arrays[key] @ C[:3, :3].T).ravel().tolist())
    ob.matrix_basis = Matrix((C @ np.array(spec["matrix"]) @ np.linalg.inv(C)).tolist())
    if spec.get("skinned"):
        group = ob.vertex_groups.new(name="head")
        group.add(list(range(len(v))), 1.0, "REPLACE")
        ob.modifiers.new("Armature", "ARMATURE").object = armature
        ob.parent = armature
    return ob


def _armature(location):
    arm = bpy.data.armatures.new("rig")
    ob = bpy.data.objects.new("rig", arm)
    bpy.context.scene.collection.objects.link(ob)
    ob.location = (C[:3, :3] @ np.array(location)).tolist()
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    bone = arm.edit_bones.new("head")
    bone.head, bone.tail = (0, 0, 0), (0, 0, 0.2)
    bpy.ops.object.mode_set(mode="OBJECT")
    return ob


def export(job):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arrays = np.load(job["arrays"])
    armature = _armature(job["armature"]) if job.get("armature") else None
    objects = {}
    for spec in job["objects"]:
        objects[spec["name"]] = _object(spec, arrays, armature)
    for spec in job["objects"]:
        if spec.get("parent"):
            objects[spec["name"]].parent = objects.get(spec["parent"], armature)  # "rig": the armature
    bpy.ops.export_scene.gltf(filepath=job["path"], export_format="GLB", export_morph=True,
                              export_morph_normal=False, export_skins=True, export_animations=False,
                              export_yup=True, export_apply=False)


def read(job):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = job["fps"]  # the importer places keys at time x scene fps
    bpy.ops.import_scene.gltf(filepath=job["path"])
    out = {}
    for ob in bpy.context.scene.objects:
        keys = ob.data.shape_keys if ob.type == "MESH" else None
        if keys is None or keys.animation_data is None:
            continue
        values = {s: [] for s in job["shapes"] if s in keys.key_blocks}
        for f in job["frames"]:
            bpy.context.scene.frame_set(f)
            for s in values:
                values[s].append(keys.key_blocks[s].value)
        out[ob.name] = values
    return out


def cache(job):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.obj_import(filepath=job["obj"])
    ob = bpy.context.selected_objects[0]
    mod = ob.modifiers.new("cache", "MESH_CACHE")
    mod.cache_format, mod.filepath = "PC2", job["pc2"]
    frames = []
    for f in job["frames"]:
        bpy.context.scene.frame_set(f)
        mesh = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
        co = np.zeros(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        frames.append(co.reshape(-1, 3))
    np.savez(job["out"], frames=np.stack(frames))


if __name__ == "__main__":
    job = json.load(open(sys.argv[1]))
    for e in job.get("export", []):
        export(e)
    for c in job.get("cache", []):
        cache(c)
    results = [read(r) for r in job.get("read", [])]
    print("RESULT " + json.dumps(results))
