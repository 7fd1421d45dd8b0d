#version 460
#extension GL_GOOGLE_include_directive : require
// moments_partial.comp - per-channel partial moments, shared-memory reductions only
// (for devices without subgroup shuffles); the body is in welford.glsl.
#include "common.glsl"
#define MOMENTS_PARTIAL_MAIN 1
#include "welford.glsl"
