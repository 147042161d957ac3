#version 330
in vec3 v_shade;
out vec4 f_color;
void main() { f_color = vec4(v_shade, 1.0); }
