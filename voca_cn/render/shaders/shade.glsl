// Lighting shared by both programs: per vertex for most of the face (lit.vert), per fragment where
// the colour changes within a triangle: the irises and the mouth opening (face.vert/face.frag).
// Materials: 0 skin, 1 mouth (socket, gums, tongue), 2 teeth, 3 eye.
uniform mat3 light_dirs;     // key, fill, rim directions in view space (columns)
uniform vec3 mouth_centre;   // inner-lip centre (model space, metres)
uniform vec2 mouth_size;     // half width (corner to corner / 2), lip depth at the corners

float mouth_occlusion(vec3 model, int material) {
    // Light reaches the mouth only through the opening: darken with depth behind the lips
    // (a parabola through the lip centre and the corners stands in for the lip front).
    if (material == 3) return 1.0;
    vec2 q = (model.xy - mouth_centre.xy) / vec2(mouth_size.x * 1.3, mouth_size.x * 0.9);
    float front = mouth_centre.z - mouth_size.y * q.x * q.x / 1.69;
    float depth = max(front - model.z, 0.0);
    if (material == 0) {  // lip skin curls back and down: only its inner side, near the opening
        depth = max(depth - 0.004, 0.0);
        q.y *= 2.0;
    }
    float inside = 1.0 - smoothstep(0.8, 1.0, length(q));
    // Teeth sit right behind the lips and catch light; socket and tongue fall off fast.
    return mix(1.0, exp(-depth / (material == 2 ? 0.02 : 0.006)), inside);
}

vec3 shade(vec3 n, vec3 v, vec3 albedo, float occlusion, int material) {
    // n: unit normal facing the camera, v: unit vector to the camera (view space) -> display RGB
    float key = max(dot(n, light_dirs[0]), 0.0);
    float fill = max(dot(n, light_dirs[1]), 0.0);
    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * max(dot(n, light_dirs[2]) + 0.3, 0.0);
    float sky = 0.5 + 0.5 * n.y;                                   // soft hemisphere ambient
    float shine = material == 3 ? 0.6 : (material == 2 ? 0.25 : 0.07);
    float spec = pow(max(dot(n, normalize(light_dirs[0] + v)), 0.0), material == 3 ? 120.0 : 24.0);
    vec3 c = albedo * ((0.10 + 0.10 * sky) + 0.80 * key + 0.28 * fill) * occlusion
           + vec3(0.35, 0.38, 0.45) * rim * occlusion + vec3(shine * spec) * occlusion;
    return pow(c, vec3(1.0 / 2.2));
}
