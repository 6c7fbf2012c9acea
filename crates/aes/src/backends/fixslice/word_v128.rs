//! medseal addition: the fixsliced state in WebAssembly SIMD128 registers,
//! eight blocks per state (twice `u64`'s four).
//!
//! Nothing of the cipher changes: the S-box, MixColumns, ShiftRows and the key
//! schedule are the crate's width-generic fixsliced code, run on `V128` rows of
//! 32 bits (4 columns x 8 blocks) instead of `u64` rows of 16 bits (4 columns x
//! 4 blocks). Every operation is a branch-free, data-independent SIMD
//! instruction, like the `u64` code it widens.
//!
//! Layout: as a little-endian 128-bit integer, bit `32*row + 8*column + block`,
//! so the byte `4*row + column` holds one (row, column) position of all eight
//! blocks. That is two `u64` states (blocks 0-3 and 4-7) with their 4-bit
//! (row, column) groups interleaved: `bitslice`/`inv_bitslice` reuse the
//! crate's `u64` bitslicing and only interleave nibbles.
//!
//! Shifts: `Shl`/`Shr` shift each 64-bit half. The fixsliced code only shifts
//! within a 32-bit row (ShiftRows' and the key schedule's column moves, masked
//! to one row), and a row never straddles the halves, so this equals a 128-bit
//! shift wherever the result is used. Rotations (MixColumns) move whole bytes
//! and are exact 128-bit rotations (byte shuffles).

use super::word::Word;
use crate::{Block, backends::soft::MinWord};
use cipher::{
    Array,
    consts::{U4, U8},
};
use core::arch::wasm32::{
    i8x16_eq, i8x16_shuffle, i64x2_shl, u8x16, u8x16_splat, u16x8_splat, u64x2, u64x2_extract_lane,
    u64x2_shr, v128, v128_and, v128_not, v128_or, v128_xor,
};
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, BitXor, BitXorAssign, Not, Shl, Shr};

/// One row set of the bitsliced state: 8 blocks, 128 bits.
#[derive(Clone, Copy)]
pub(crate) struct V128(v128);

impl Default for V128 {
    #[inline(always)]
    fn default() -> Self {
        V128(u64x2(0, 0))
    }
}

macro_rules! binop {
    ($tr:ident, $f:ident, $tra:ident, $fa:ident, $op:ident) => {
        impl $tr for V128 {
            type Output = V128;
            #[inline(always)]
            fn $f(self, rhs: V128) -> V128 {
                V128($op(self.0, rhs.0))
            }
        }
        impl $tra for V128 {
            #[inline(always)]
            fn $fa(&mut self, rhs: V128) {
                self.0 = $op(self.0, rhs.0);
            }
        }
    };
}
binop!(BitAnd, bitand, BitAndAssign, bitand_assign, v128_and);
binop!(BitOr, bitor, BitOrAssign, bitor_assign, v128_or);
binop!(BitXor, bitxor, BitXorAssign, bitxor_assign, v128_xor);

impl Not for V128 {
    type Output = V128;
    #[inline(always)]
    fn not(self) -> V128 {
        V128(v128_not(self.0))
    }
}

impl Shl<u32> for V128 {
    type Output = V128;
    #[inline(always)]
    fn shl(self, n: u32) -> V128 {
        V128(i64x2_shl(self.0, n))
    }
}

impl Shr<u32> for V128 {
    type Output = V128;
    #[inline(always)]
    fn shr(self, n: u32) -> V128 {
        V128(u64x2_shr(self.0, n))
    }
}

/// Each of the low 4 bits of `b` (one per column) widened to a byte of a
/// 32-bit row.
#[inline(always)]
const fn row(b: u8) -> u64 {
    let mut out = 0u64;
    let mut c = 0;
    while c < 4 {
        out |= (((b >> c) & 1) as u64) * (0xff << (8 * c));
        c += 1;
    }
    out
}

const NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;

impl Word for V128 {
    type Blocks = U8;

    #[inline(always)]
    fn ror(self, n: u32) -> V128 {
        // Whole-byte rotations only (multiples of QUARTER_ROW = 8 bits).
        debug_assert_eq!(n % 8, 0);
        let v = self.0;
        // rotate_right by 8*m: byte k of the result is byte (k + m) mod 16.
        V128(match (n / 8) % 16 {
            0 => v,
            1 => i8x16_shuffle::<1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0>(v, v),
            2 => i8x16_shuffle::<2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1>(v, v),
            3 => i8x16_shuffle::<3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2>(v, v),
            4 => i8x16_shuffle::<4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3>(v, v),
            5 => i8x16_shuffle::<5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4>(v, v),
            6 => i8x16_shuffle::<6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5>(v, v),
            7 => i8x16_shuffle::<7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6>(v, v),
            8 => i8x16_shuffle::<8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7>(v, v),
            9 => i8x16_shuffle::<9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8>(v, v),
            10 => i8x16_shuffle::<10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9>(v, v),
            11 => i8x16_shuffle::<11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10>(v, v),
            12 => i8x16_shuffle::<12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11>(v, v),
            13 => i8x16_shuffle::<13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>(v, v),
            14 => i8x16_shuffle::<14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13>(v, v),
            _ => i8x16_shuffle::<15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14>(v, v),
        })
    }

    #[inline(always)]
    fn uniform_row(b: u8) -> V128 {
        let r = row(b);
        let two = r | (r << 32);
        V128(u64x2(two, two))
    }

    #[inline(always)]
    fn pack_rows(r0: u8, r1: u8, r2: u8, r3: u8) -> V128 {
        V128(u64x2(row(r0) | (row(r1) << 32), row(r2) | (row(r3) << 32)))
    }

    #[inline(always)]
    fn byte_repeat(b: u8) -> V128 {
        V128(u8x16_splat(b))
    }

    /// Bitslice eight blocks: the `u64` bitslicing of blocks 0-3 (`a`) and
    /// 4-7 (`b`), then byte `k` of each row set = nibble `k` of `a` | nibble
    /// `k` of `b` << 4.
    fn bitslice(output: &mut [V128], input: &Array<Block, U8>) {
        debug_assert_eq!(output.len(), 8);
        let (lo, hi) = input.split_ref::<U4>();
        let (mut a, mut b) = ([0u64; 8], [0u64; 8]);
        <u64 as Word>::bitslice(&mut a, lo);
        <u64 as Word>::bitslice(&mut b, hi);
        for (out, (a, b)) in output.iter_mut().zip(a.iter().zip(b.iter())) {
            // even: bytes 0, 2, .. 14 of the result; odd: bytes 1, 3, .. 15.
            let even = (a & NIBBLES) | ((b & NIBBLES) << 4);
            let odd = ((a >> 4) & NIBBLES) | (b & !NIBBLES);
            *out = V128(i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(
                u64x2(even, 0),
                u64x2(odd, 0),
            ));
        }
    }

    /// The inverse of [`bitslice`](Word::bitslice).
    fn inv_bitslice(input: &[V128]) -> Array<Block, U8> {
        debug_assert_eq!(input.len(), 8);
        let (mut a, mut b) = ([0u64; 8], [0u64; 8]);
        for (x, (a, b)) in input.iter().zip(a.iter_mut().zip(b.iter_mut())) {
            let split =
                i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15>(x.0, x.0);
            let even = u64x2_extract_lane::<0>(split);
            let odd = u64x2_extract_lane::<1>(split);
            *a = (even & NIBBLES) | ((odd & NIBBLES) << 4);
            *b = ((even >> 4) & NIBBLES) | (odd & !NIBBLES);
        }
        let lo = <u64 as Word>::inv_bitslice(&a);
        let hi = <u64 as Word>::inv_bitslice(&b);
        lo.concat(hi)
    }

    /// Byte `k` = 0xff where bit `k` of the round key is set (the `u16`
    /// layout has (row, column) `k = 4*row + column`).
    #[inline(always)]
    fn broadcast(rkey: MinWord) -> V128 {
        let v = u16x8_splat(rkey);
        let bytes = i8x16_shuffle::<0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1>(v, v);
        let bits = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        V128(i8x16_eq(v128_and(bytes, bits), bits))
    }
}
