/* commands.c - one command buffer per context: record kernels, submit once, wait.
 * Timestamps around each dispatch charge device time to the current phase. */
#include <string.h>

#include "common/util.h"
#include "vk/context.h"

lsuv_status lsuv_commands_create(lsuv_context *ctx)
{
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = ctx->queue_family};
    VkResult r = ctx->vk.vkCreateCommandPool(ctx->device, &pi, NULL, &ctx->command_pool);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    if ((r = ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &ctx->cmd)) != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = ctx->vk.vkCreateFence(ctx->device, &fi, NULL, &ctx->fence)) != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateFence");
    if (ctx->info.timestamp_period_ns > 0) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = LSUV_QUERY_COUNT};
        if (ctx->vk.vkCreateQueryPool(ctx->device, &qi, NULL, &ctx->query_pool) != VK_SUCCESS)
            ctx->query_pool = VK_NULL_HANDLE; /* timing is optional */
    }
    return LSUV_OK;
}

void lsuv_commands_destroy(lsuv_context *ctx)
{
    if (!ctx->device)
        return;
    if (ctx->query_pool)
        ctx->vk.vkDestroyQueryPool(ctx->device, ctx->query_pool, NULL);
    if (ctx->fence)
        ctx->vk.vkDestroyFence(ctx->device, ctx->fence, NULL);
    if (ctx->command_pool)
        ctx->vk.vkDestroyCommandPool(ctx->device, ctx->command_pool, NULL);
}

lsuv_status lsuv_record_begin(lsuv_context *ctx)
{
    if (ctx->recording)
        return LSUV_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkBeginCommandBuffer");
    ctx->recording = 1;
    ctx->dispatches_since_barrier = 0;
    ctx->query_used = 0;
    if (ctx->query_pool && ctx->profiling)
        ctx->vk.vkCmdResetQueryPool(ctx->cmd, ctx->query_pool, 0, LSUV_QUERY_COUNT);
    return LSUV_OK;
}

void lsuv_barrier(lsuv_context *ctx)
{
    if (!ctx->recording)
        return;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
    ctx->dispatches_since_barrier = 0;
}

uint32_t lsuv_groups(const lsuv_context *ctx, uint64_t n, uint32_t per_group)
{
    uint64_t g = lsuv_ceil_div(n, per_group);
    uint64_t cap = ctx->info.max_workgroup_count[0] ? ctx->info.max_workgroup_count[0] : 65535;
    if (g > cap)
        g = cap;
    return g ? (uint32_t)g : 1;
}

void lsuv_set_phase(lsuv_context *ctx, lsuv_phase phase) { ctx->phase = phase; }

lsuv_status lsuv_dispatch(lsuv_context *ctx, lsuv_shader_id shader, const uint32_t *spec, int nspec,
                          const void *push, uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz)
{
    const uint32_t *limit = ctx->info.max_workgroup_count;
    if (gx == 0 || gy == 0 || gz == 0)
        return LSUV_OK; /* nothing to do */
    /* First: it checks the id, so the messages below may name the shader. */
    VkPipeline pipeline;
    lsuv_status st = lsuv_pipeline_get(ctx, shader, spec, nspec, &pipeline);
    if (st != LSUV_OK)
        return st;
    const char *name = lsuv_shader_table[shader].name;
    if (gx > limit[0] || gy > limit[1] || gz > limit[2])
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "kernel %s: %u x %u x %u workgroups exceed the device limit %u x %u x %u", name,
                         gx, gy, gz, limit[0], limit[1], limit[2]);
    if (push_size > LSUV_MAX_PUSH)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "kernel %s: %u bytes of push constants", name,
                         push_size);
    st = lsuv_record_begin(ctx);
    if (st != LSUV_OK)
        return st;
    /* Kernels are recorded in dependency order; one barrier per dispatch keeps that
     * order simple and correct (independent kernels are rare here). */
    lsuv_barrier(ctx);
    int timed = ctx->profiling && ctx->query_pool && ctx->query_used + 2 <= LSUV_QUERY_COUNT;
    if (timed)
        ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, ctx->query_pool,
                                    ctx->query_used);
    ctx->vk.vkCmdBindPipeline(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    if (push_size)
        ctx->vk.vkCmdPushConstants(ctx->cmd, ctx->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                   push_size, push);
    ctx->vk.vkCmdDispatch(ctx->cmd, gx, gy, gz);
    double flops = ctx->next_flops, bytes = ctx->next_bytes;
    ctx->next_flops = ctx->next_bytes = 0; /* a declaration holds for one dispatch */
    ctx->phase_flops[ctx->phase] += flops;
    if (timed) {
        ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->query_pool,
                                    ctx->query_used + 1);
        ctx->query_phase[ctx->query_used / 2] = (uint8_t)ctx->phase;
        ctx->query_shader[ctx->query_used / 2] = (uint16_t)shader;
        ctx->shader_dispatches[shader]++;
        ctx->shader_flops[shader] += flops;
        ctx->shader_bytes[shader] += bytes;
        ctx->query_used += 2;
    }
    ctx->dispatches_since_barrier++;
    return LSUV_OK;
}

static void collect_timestamps(lsuv_context *ctx)
{
    if (!ctx->query_used)
        return;
    static const uint32_t chunk = 512; /* queries read per call */
    uint64_t values[512];
    for (uint32_t first = 0; first < ctx->query_used; first += chunk) {
        uint32_t n = ctx->query_used - first < chunk ? ctx->query_used - first : chunk;
        if (ctx->vk.vkGetQueryPoolResults(ctx->device, ctx->query_pool, first, n, sizeof values, values,
                                          sizeof values[0], VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
            return;
        for (uint32_t i = 0; i + 1 < n; i += 2) {
            double s = (double)(values[i + 1] - values[i]) * ctx->info.timestamp_period_ns * 1e-9;
            ctx->phase_seconds[ctx->query_phase[(first + i) / 2]] += s;
            ctx->shader_seconds[ctx->query_shader[(first + i) / 2]] += s;
        }
    }
    ctx->query_used = 0;
}

lsuv_status lsuv_submit(lsuv_context *ctx)
{
    if (!ctx->recording)
        return LSUV_OK;
    ctx->recording = 0;
    VkResult r = ctx->vk.vkEndCommandBuffer(ctx->cmd);
    if (r != VK_SUCCESS) {
        ctx->vk.vkResetCommandBuffer(ctx->cmd, 0);
        return lsuv_vk_fail(ctx, r, "vkEndCommandBuffer");
    }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                       .pCommandBuffers = &ctx->cmd};
    r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
    if (r == VK_SUCCESS)
        r = ctx->vk.vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
    ctx->vk.vkResetFences(ctx->device, 1, &ctx->fence);
    ctx->vk.vkResetCommandBuffer(ctx->cmd, 0);
    ctx->submissions++;
    lsuv_scratch_reset(ctx);
    if (r != VK_SUCCESS) {
        ctx->query_used = 0;
        return lsuv_vk_fail(ctx, r, "vkQueueSubmit/vkWaitForFences");
    }
    collect_timestamps(ctx);
    return LSUV_OK;
}
