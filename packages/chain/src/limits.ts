/** Numeric bounds of the wire types. */
export const U32_MAX = 0xffff_ffff;
export const I32_MIN = -0x8000_0000;
export const I32_MAX = 0x7fff_ffff;
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
