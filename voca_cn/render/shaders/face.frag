#version 330
#include shade.glsl
uniform vec3 eye_centre[4];
uniform vec3 eye_axis[4];
uniform vec2 iris_cos;       // cos of the iris and pupil half-angles
in vec3 v_normal;
in vec3 v_color;
in vec3 v_view;
in vec3 v_model;
flat in int v_material;
flat in int v_eye;
out vec4 f_color;

vec3 iris(vec3 albedo) {
    // Iris and pupil from the eyeball's own geometry: angle of this point off the eye's axis.
    vec3 d = normalize(v_model - eye_centre[v_eye]);
    float c = dot(d, eye_axis[v_eye]);
    if (c < iris_cos.x) return albedo;
    float t = (c - iris_cos.x) / (1.0 - iris_cos.x);          // 0 at the limbus, 1 at the pole
    vec3 side = normalize(cross(eye_axis[v_eye], vec3(0.0, 1.0, 0.0)));
    float a = atan(dot(d, cross(eye_axis[v_eye], side)), dot(d, side));
    float fibres = 0.85 + 0.15 * sin(a * 37.0) * sin(a * 11.0 + 3.0 * t);
    vec3 col = mix(vec3(0.05, 0.035, 0.02), vec3(0.22, 0.13, 0.06), smoothstep(0.0, 0.25, t)) * fibres;
    return c > iris_cos.y ? vec3(0.01) : col;
}

void main() {
    vec3 n = normalize(v_normal);
    vec3 v = normalize(v_view);
    if (dot(n, v) < 0.0) n = -n;  // inner walls of the mouth are seen from behind
    vec3 albedo = v_material == 3 ? iris(v_color) : v_color;
    f_color = vec4(shade(n, v, albedo, mouth_occlusion(v_model, v_material), v_material), 1.0);
}
