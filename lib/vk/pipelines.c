/* pipelines.c - compute pipelines from the embedded SPIR-V, created on first use and
 * cached per (shader, specialization constants). One pipeline layout serves all: push
 * constants (shaders reach buffers through device addresses) and one descriptor set of
 * storage texel buffers that only the CPU-device kernels use (texel.c). */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vk/context.h"

lsuv_status lsuv_pipelines_create(lsuv_context *ctx)
{
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0,
                                 .size = LSUV_MAX_PUSH};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .pushConstantRangeCount = 1, .pPushConstantRanges = &range,
                                     /* set 0: the texel kernels' views (texel.c); others ignore it */
                                     .setLayoutCount = ctx->texel_layout ? 1u : 0u,
                                     .pSetLayouts = &ctx->texel_layout};
    VkResult r = ctx->vk.vkCreatePipelineLayout(ctx->device, &li, NULL, &ctx->pipeline_layout);
    return r == VK_SUCCESS ? LSUV_OK : lsuv_vk_fail(ctx, r, "vkCreatePipelineLayout");
}

void lsuv_pipelines_destroy(lsuv_context *ctx)
{
    if (!ctx->device)
        return;
    for (int i = 0; i < ctx->pipeline_count; i++)
        ctx->vk.vkDestroyPipeline(ctx->device, ctx->pipelines[i].pipeline, NULL);
    free(ctx->pipelines);
    ctx->pipelines = NULL;
    ctx->pipeline_count = ctx->pipeline_capacity = 0;
    if (ctx->pipeline_layout)
        ctx->vk.vkDestroyPipelineLayout(ctx->device, ctx->pipeline_layout, NULL);
}

static lsuv_status create_pipeline(lsuv_context *ctx, const lsuv_shader *sh, const uint32_t *spec,
                                   int nspec, VkPipeline *out)
{
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = sh->bytes, .pCode = sh->code};
    VkShaderModule module;
    VkResult r = ctx->vk.vkCreateShaderModule(ctx->device, &mi, NULL, &module);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateShaderModule");
    VkSpecializationMapEntry entries[LSUV_MAX_SPEC];
    for (int i = 0; i < nspec; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i,
                                                .offset = (uint32_t)(i * sizeof(uint32_t)),
                                                .size = sizeof(uint32_t)};
    VkSpecializationInfo si = {.mapEntryCount = (uint32_t)nspec, .pMapEntries = entries,
                               .dataSize = (size_t)nspec * sizeof(uint32_t), .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = module, .pName = "main",
                  .pSpecializationInfo = nspec ? &si : NULL},
        .layout = ctx->pipeline_layout};
    r = ctx->vk.vkCreateComputePipelines(ctx->device, VK_NULL_HANDLE, 1, &ci, NULL, out);
    ctx->vk.vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, sh->name);
    return LSUV_OK;
}

lsuv_status lsuv_pipeline_get(lsuv_context *ctx, lsuv_shader_id shader, const uint32_t *spec,
                              int nspec, VkPipeline *out)
{
    if ((unsigned)shader >= LSUV_SHADER_COUNT)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "no shader with id %d is built in (%d are)",
                         (int)shader, LSUV_SHADER_COUNT);
    const char *name = lsuv_shader_table[shader].name;
    if (nspec < 0 || nspec > LSUV_MAX_SPEC)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "shader %s: %d specialization constants", name,
                         nspec);
    for (int i = 0; i < ctx->pipeline_count; i++) {
        lsuv_pipeline_entry *e = &ctx->pipelines[i];
        if (e->shader == shader && e->nspec == nspec &&
            (nspec == 0 || memcmp(e->spec, spec, (size_t)nspec * sizeof *spec) == 0)) {
            *out = e->pipeline;
            return LSUV_OK;
        }
    }
    if (!lsuv_grow(&ctx->pipelines, &ctx->pipeline_capacity, ctx->pipeline_count + 1, sizeof *ctx->pipelines))
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for pipelines");
    lsuv_pipeline_entry *e = &ctx->pipelines[ctx->pipeline_count];
    memset(e, 0, sizeof *e);
    e->shader = shader;
    e->nspec = nspec;
    if (nspec)
        memcpy(e->spec, spec, (size_t)nspec * sizeof *spec);
    lsuv_status st = create_pipeline(ctx, &lsuv_shader_table[shader], spec, nspec, &e->pipeline);
    if (st != LSUV_OK)
        return st;
    ctx->pipeline_count++;
    *out = e->pipeline;
    return LSUV_OK;
}
