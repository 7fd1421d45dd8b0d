#version 460
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// moments_partial_sg.comp - per-channel partial moments, reducing within subgroups by
// shuffles first (chosen when the device supports basic + shuffle subgroup operations).
#include "common.glsl"
#define WELFORD_SUBGROUP 1
#define MOMENTS_PARTIAL_MAIN 1
#include "welford.glsl"
