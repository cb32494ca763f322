//! Password-hashed (imported) client secrets: argon2id keyed with the pepper, behind a gate
//! that bounds how many hashes run at once.
//!
//! One argon2id check works in 19 MiB for ~13 ms. Unbounded, 96 concurrent wrong passwords on
//! 512 blocking threads took the demo to 5 GiB; through the gate at most `permits` checks run
//! (the core count) and at most `4 × permits` wait, each for at most [`WAIT`]; anything more is
//! refused at once with [`RegistryError::Busy`], which the service answers with 503 and
//! `Retry-After`. Each permit carries its own argon2 work area, allocated once and reused:
//! bounding the checks alone is not enough, because the allocator keeps a freed 19 MiB area in
//! the arena of whichever blocking thread ran the check (measured: +478 MiB after 288 wrong
//! passwords with two checks at a time). Unknown client ids pay the same price through a
//! dummy verification, so the time of a refusal does not tell which ids exist.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::{RegistryError, random};

/// Imported secrets are at least this long: a machine secret is typed once, into a config.
pub const MIN_IMPORTED_SECRET_LEN: usize = 16;

/// How long a check may wait for a free hashing slot.
pub(super) const WAIT: Duration = Duration::from_secs(2);

/// The stored form of a peppered hash: this prefix, then the PHC string.
const PEPPERED: &str = "argon2-peppered$";

/// At most `permits` hashes at once, at most `max_waiting` callers waiting.
struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    permits: usize,
    max_waiting: usize,
}

#[derive(Default)]
struct GateState {
    running: usize,
    waiting: usize,
    /// Work areas not in use (at most `permits`, made on first use).
    areas: Vec<Vec<Block>>,
}

/// The right to run one hash, with a work area to run it in.
struct Permit<'a> {
    gate: &'a Gate,
    area: Vec<Block>,
}

impl Permit<'_> {
    /// The work area, at least `blocks` long.
    fn area(&mut self, blocks: usize) -> &mut [Block] {
        if self.area.len() < blocks {
            self.area.resize(blocks, Block::default());
        }
        &mut self.area[..blocks]
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self
            .gate
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.running -= 1;
        state.areas.push(std::mem::take(&mut self.area));
        self.gate.freed.notify_one();
    }
}

/// Stored hashes whose work area is larger than this are not checked (the default is 19 MiB).
const MAX_AREA_BLOCKS: usize = 256 * 1024;

impl Gate {
    fn enter(&self) -> Result<Permit<'_>, RegistryError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.running < self.permits {
            state.running += 1;
            let area = state.areas.pop().unwrap_or_default();
            return Ok(Permit { gate: self, area });
        }
        if state.waiting >= self.max_waiting {
            return Err(RegistryError::Busy);
        }
        state.waiting += 1;
        let deadline = Instant::now() + WAIT;
        while state.running >= self.permits {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.waiting -= 1;
                return Err(RegistryError::Busy);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.waiting -= 1;
        state.running += 1;
        let area = state.areas.pop().unwrap_or_default();
        Ok(Permit { gate: self, area })
    }
}

/// Hashes and checks imported secrets.
#[derive(Clone)]
pub(crate) struct Passwords {
    pepper: Arc<[u8]>,
    gate: Arc<Gate>,
    /// A hash of a random secret, verified for unknown ids.
    dummy: Arc<str>,
}

impl Passwords {
    /// `permits` hashes at once (at least one).
    pub(crate) fn new(pepper: Arc<[u8]>, permits: usize) -> Result<Self, RegistryError> {
        let permits = permits.max(1);
        let mut passwords = Self {
            pepper,
            gate: Arc::new(Gate {
                state: Mutex::new(GateState {
                    areas: Vec::with_capacity(permits),
                    ..GateState::default()
                }),
                freed: Condvar::new(),
                permits,
                max_waiting: 4 * permits,
            }),
            dummy: Arc::from(""),
        };
        let never = crate::hex(&random::<16>()?);
        passwords.dummy = Arc::from(passwords.hash(&never)?);
        Ok(passwords)
    }

    fn argon2(&self) -> Result<Argon2<'_>, RegistryError> {
        Argon2::new_with_secret(
            &self.pepper,
            Algorithm::Argon2id,
            Version::V0x13,
            Params::default(),
        )
        .map_err(|e| RegistryError::PasswordHash(e.into()))
    }

    /// Checks an imported secret's length and characters.
    pub(crate) fn check_importable(secret: &str) -> Result<(), RegistryError> {
        if secret.chars().count() < MIN_IMPORTED_SECRET_LEN || secret.chars().any(char::is_control)
        {
            return Err(RegistryError::WeakSecret);
        }
        Ok(())
    }

    /// The stored form of `secret`: argon2id keyed with the pepper.
    pub(crate) fn hash(&self, secret: &str) -> Result<String, RegistryError> {
        let salt = SaltString::encode_b64(&random::<16>()?).map_err(|_| RegistryError::Random)?;
        let _permit = self.gate.enter()?;
        let hash = self
            .argon2()?
            .hash_password(secret.as_bytes(), &salt)
            .map_err(RegistryError::PasswordHash)?;
        Ok(format!("{PEPPERED}{hash}"))
    }

    /// Recomputes `hash` for `secret` in a permit's work area; constant-time comparison.
    fn matches(
        &self,
        hash: &PasswordHash<'_>,
        secret: &str,
        peppered: bool,
        permit: &mut Permit<'_>,
    ) -> Option<bool> {
        let expected = hash.hash?;
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = match hash.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let stated = Params::try_from(hash).ok()?;
        let params = Params::new(
            stated.m_cost(),
            stated.t_cost(),
            stated.p_cost(),
            Some(expected.len()),
        )
        .ok()?;
        let blocks = params.block_count();
        if blocks > MAX_AREA_BLOCKS {
            return None;
        }
        let argon2 = if peppered {
            Argon2::new_with_secret(&self.pepper, algorithm, version, params).ok()?
        } else {
            Argon2::new(algorithm, version, params)
        };
        let mut salt = [0u8; 64];
        let salt = hash.salt?.decode_b64(&mut salt).ok()?;
        let mut out = [0u8; 64];
        let out = out.get_mut(..expected.len())?;
        argon2
            .hash_password_into_with_memory(secret.as_bytes(), salt, out, permit.area(blocks))
            .ok()?;
        // `Output` compares in constant time.
        Some(Output::new(out).ok()? == expected)
    }

    /// Whether `stored` is a password hash this module checks.
    pub(crate) fn is_password_hash(stored: &str) -> bool {
        stored.starts_with(PEPPERED) || stored.starts_with("$argon2")
    }

    /// Checks `secret` against a stored hash (peppered, or an unpeppered one from before the
    /// pepper was mixed in). `Err(Busy)` when too many checks are running.
    pub(crate) fn verify(&self, stored: &str, secret: &str) -> Result<bool, RegistryError> {
        let (phc, peppered) = match stored.strip_prefix(PEPPERED) {
            Some(phc) => (phc, true),
            None => (stored, false),
        };
        let Ok(hash) = PasswordHash::new(phc) else {
            return Ok(false);
        };
        let mut permit = self.gate.enter()?;
        Ok(self
            .matches(&hash, secret, peppered, &mut permit)
            .unwrap_or(false))
    }

    /// A verification of equal cost whose answer is always "no": for unknown or revoked ids.
    pub(crate) fn verify_dummy(&self, secret: &str) -> Result<(), RegistryError> {
        self.verify(&self.dummy, secret).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords(permits: usize) -> Passwords {
        Passwords::new(Arc::from(&b"pepper-pepper-pepper"[..]), permits).unwrap()
    }

    #[test]
    fn peppered_hashes_verify_only_with_the_same_pepper() {
        let one = passwords(2);
        let stored = one.hash("correct horse battery").unwrap();
        assert!(stored.starts_with("argon2-peppered$$argon2id$"), "{stored}");
        assert!(one.verify(&stored, "correct horse battery").unwrap());
        assert!(!one.verify(&stored, "correct horse batterx").unwrap());
        let other = Passwords::new(Arc::from(&b"another pepper"[..]), 1).unwrap();
        assert!(
            !other.verify(&stored, "correct horse battery").unwrap(),
            "a stolen database without the pepper checks nothing offline"
        );
    }

    #[test]
    fn hashes_from_before_the_pepper_still_verify() {
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let legacy = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        let checker = passwords(1);
        assert!(checker.verify(&legacy, "correct horse battery").unwrap());
        assert!(!checker.verify(&legacy, "wrong").unwrap());
    }

    #[test]
    fn short_or_control_secrets_are_refused() {
        assert!(Passwords::check_importable("short").is_err());
        assert!(Passwords::check_importable("sixteen chars ok").is_ok());
        assert!(Passwords::check_importable("sixteen chars\nno").is_err());
    }

    #[test]
    fn the_gate_refuses_beyond_its_queue_instead_of_growing() {
        let checker = passwords(1);
        let stored = checker.hash("correct horse battery").unwrap();
        let refused = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    if matches!(
                        checker.verify(&stored, "wrong wrong wrong"),
                        Err(RegistryError::Busy)
                    ) {
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        // One runs, four wait; the rest (11 of 16 when they arrive together) are refused at once.
        assert!(refused.into_inner() >= 8);
    }
}
