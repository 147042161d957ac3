#version 330
#include shade.glsl
// Most of the face: lit per vertex, the colour interpolated (the mesh is dense next to the
// lighting's changes), so a fragment costs almost nothing on a CPU rasteriser.
uniform mat4 mvp;
uniform mat4 model_view;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in float in_material;
out vec3 v_shade;
void main() {
    int material = int(in_material + 0.5);
    vec3 n = normalize(mat3(model_view) * in_normal);
    vec3 v = normalize(-(model_view * vec4(in_pos, 1.0)).xyz);
    if (dot(n, v) < 0.0) n = -n;
    v_shade = shade(n, v, in_color, mouth_occlusion(in_pos, material), material);
    gl_Position = mvp * vec4(in_pos, 1.0);
}
