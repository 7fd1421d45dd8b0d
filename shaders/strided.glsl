// strided.glsl - walking the coordinates of a C-order box of up to AXES axes in a
// grid-stride loop without a division per element: each invocation splits its first index
// and the grid stride into digits once, then adds the stride's digits with carries.
// The box's axes sit right-aligned in AXES slots; RANK (specialization constant 1) says how
// many are used, so that the loops below unroll to just those (a same-shape add is one
// axis after the host merged them). Slots before FIRST are never read.
const uint AXES = 7;
layout(constant_id = 1) const uint RANK = AXES;
const uint FIRST = AXES - RANK;

// Digits of i in the mixed radix of ext (ext[AXES-1] fastest). An i beyond the box wraps
// in the outermost digit; callers never use such digits.
void split_index(uint i, uint ext[AXES], out uint c[AXES])
{
    for (uint d = AXES; d > FIRST; d--) {
        c[d - 1] = i % ext[d - 1];
        i /= ext[d - 1];
    }
}

// c += digits (both within the box): one compare per axis, since c + digit + carry < 2 ext.
void advance(inout uint c[AXES], uint digits[AXES], uint ext[AXES])
{
    uint carry = 0;
    for (uint d = AXES; d > FIRST; d--) {
        uint v = c[d - 1] + digits[d - 1] + carry;
        carry = v >= ext[d - 1] ? 1u : 0u;
        c[d - 1] = carry != 0u ? v - ext[d - 1] : v;
    }
}
