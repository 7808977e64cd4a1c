//! Argon2id stretching shared by [`crate::passphrase`] and [`crate::release_code`]: a secret
//! typed by a person becomes a 32-byte AES-256-GCM key.

use zeroize::Zeroizing;

/// Bytes of the stretched key (an AES-256 key).
pub(crate) const KEY_BYTES: usize = 32;

/// Argon2id cost, as written in a sealed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    pub(crate) memory_kib: u32,
    pub(crate) iterations: u32,
    pub(crate) lanes: u32,
}

impl Cost {
    /// Whether every figure is at most the matching figure of `max` (checked before any work, so
    /// that a damaged header cannot make us allocate or compute a lot).
    pub(crate) fn within(&self, max: &Cost) -> bool {
        self.memory_kib <= max.memory_kib
            && self.iterations <= max.iterations
            && self.lanes <= max.lanes
    }

    /// The three figures, big-endian, in header order.
    pub(crate) fn to_be_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        for (chunk, n) in
            out.chunks_exact_mut(4)
                .zip([self.memory_kib, self.iterations, self.lanes])
        {
            chunk.copy_from_slice(&n.to_be_bytes());
        }
        out
    }

    /// Reads what [`Cost::to_be_bytes`] wrote.
    pub(crate) fn from_be_bytes(bytes: &[u8; 12]) -> Self {
        let n = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Self {
            memory_kib: n(0),
            iterations: n(4),
            lanes: n(8),
        }
    }
}

/// Stretches `secret` with Argon2id (version 0x13) at `cost` into a key, or says why Argon2
/// refused (parameters out of its range, or memory it could not get).
pub(crate) fn argon2id(
    secret: &[u8],
    salt: &[u8],
    cost: &Cost,
) -> Result<Zeroizing<[u8; KEY_BYTES]>, String> {
    let params = argon2::Params::new(
        cost.memory_kib,
        cost.iterations,
        cost.lanes,
        Some(KEY_BYTES),
    )
    .map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    argon
        .hash_password_into(secret, salt, key.as_mut())
        .map_err(|e| e.to_string())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_known_answers_from_the_reference_implementation() {
        // phc-winner-argon2 src/test.c, Argon2id version 0x13, "password" / "somesalt".
        for (lanes, expected) in [
            (
                1,
                "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
            ),
            (
                2,
                "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037",
            ),
        ] {
            let cost = Cost {
                memory_kib: 256,
                iterations: 2,
                lanes,
            };
            let key = argon2id(b"password", b"somesalt", &cost).expect("stretch");
            assert_eq!(hex::encode(*key), expected, "lanes {lanes}");
        }
        let refused = Cost {
            memory_kib: 0,
            iterations: 2,
            lanes: 1,
        };
        assert!(argon2id(b"password", b"somesalt", &refused).is_err());
    }

    #[test]
    fn cost_round_trips_and_is_bounded() {
        let c = Cost {
            memory_kib: 0x0102_0304,
            iterations: 5,
            lanes: 6,
        };
        assert_eq!(Cost::from_be_bytes(&c.to_be_bytes()), c);
        assert_eq!(c.to_be_bytes()[..4], [1, 2, 3, 4]);
        assert!(c.within(&c));
        assert!(!c.within(&Cost { lanes: 5, ..c }));
        assert!(!c.within(&Cost { iterations: 4, ..c }));
        assert!(!c.within(&Cost { memory_kib: 1, ..c }));
    }
}
