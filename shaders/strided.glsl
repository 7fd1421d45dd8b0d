// strided.glsl - walking the coordinates of a C-order box of AXES axes in a grid-stride
// loop without a division per element: each invocation splits its first index and the
// grid stride into digits once, then adds the stride's digits with carries.
// Unused axes have extent 1 (and stride 0) and sit in front.
const uint AXES = 7;

// Digits of i in the mixed radix of ext (ext[AXES-1] fastest). An i beyond the box wraps
// in the outermost digit; callers never use such digits.
void split_index(uint i, uint ext[AXES], out uint c[AXES])
{
    for (int d = int(AXES) - 1; d >= 0; d--) {
        c[d] = i % ext[d];
        i /= ext[d];
    }
}

// c += digits (both within the box): one compare per axis, since c + digit + carry < 2 ext.
void advance(inout uint c[AXES], uint digits[AXES], uint ext[AXES])
{
    uint carry = 0;
    for (int d = int(AXES) - 1; d >= 0; d--) {
        uint v = c[d] + digits[d] + carry;
        carry = v >= ext[d] ? 1u : 0u;
        c[d] = carry != 0u ? v - ext[d] : v;
    }
}
