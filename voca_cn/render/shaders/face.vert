#version 330
uniform mat4 mvp;
uniform mat4 model_view;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in float in_material;
in float in_eye;
out vec3 v_normal;
out vec3 v_color;
out vec3 v_view;
out vec3 v_model;
flat out int v_material;
flat out int v_eye;
void main() {
    vec4 p = model_view * vec4(in_pos, 1.0);
    v_view = -p.xyz;
    v_model = in_pos;
    v_normal = mat3(model_view) * in_normal;
    v_color = in_color;
    v_material = int(in_material + 0.5);
    v_eye = int(in_eye + 0.5);
    gl_Position = mvp * vec4(in_pos, 1.0);
}
