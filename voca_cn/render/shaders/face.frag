#version 330
uniform mat3 light_dirs;     // key, fill, rim directions in view space (columns)
uniform vec3 mouth_centre;   // inner-lip centre (model space, metres)
uniform vec2 mouth_size;     // half width (corner to corner / 2), lip depth at the corners
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
    vec3 albedo = v_color;
    float occlusion = 1.0;
    if (v_material != 3) {
        // Light reaches the mouth only through the opening: darken with depth behind the lips
        // (a parabola through the lip centre and the corners stands in for the lip front).
        vec2 q = (v_model.xy - mouth_centre.xy) / vec2(mouth_size.x * 1.3, mouth_size.x * 0.9);
        float front = mouth_centre.z - mouth_size.y * q.x * q.x / 1.69;
        float depth = max(front - v_model.z, 0.0);
        if (v_material == 0) {  // lip skin curls back and down: only its inner side, near the opening
            depth = max(depth - 0.004, 0.0);
            q.y *= 2.0;
        }
        float inside = 1.0 - smoothstep(0.8, 1.0, length(q));
        // Teeth sit right behind the lips and catch light; socket and tongue fall off fast.
        occlusion = mix(1.0, exp(-depth / (v_material == 2 ? 0.02 : 0.006)), inside);
    } else {
        albedo = iris(albedo);
    }
    float key = max(dot(n, light_dirs[0]), 0.0);
    float fill = max(dot(n, light_dirs[1]), 0.0);
    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * max(dot(n, light_dirs[2]) + 0.3, 0.0);
    float sky = 0.5 + 0.5 * n.y;                                   // soft hemisphere ambient
    float shine = v_material == 3 ? 0.6 : (v_material == 2 ? 0.25 : 0.07);
    float spec = pow(max(dot(n, normalize(light_dirs[0] + v)), 0.0), v_material == 3 ? 120.0 : 24.0);
    vec3 c = albedo * ((0.10 + 0.10 * sky) + 0.80 * key + 0.28 * fill) * occlusion
           + vec3(0.35, 0.38, 0.45) * rim * occlusion + vec3(shine * spec) * occlusion;
    f_color = vec4(pow(c, vec3(1.0 / 2.2)), 1.0);
}
