//! ferrite's promise about user mistakes: wrong shapes, bad parameters, corrupt or foreign
//! files and misuse of the graph give a `Result::Err` whose message names the operation and
//! says what was expected and what was found. Library code never panics on user input and
//! never returns a silently wrong answer (the panicking conveniences, such as the arithmetic
//! operators, document it in `# Panics`).
//!
//! Each test below drives one area of the public API with bad input. Every case runs under
//! `catch_unwind`, so a panic in one case does not hide the others, and each test ends with
//! one assertion listing every case that broke the promise, with the panic's location. The
//! reference of what each function refuses is `docs/errors.md`.
//!
//! A case states the substrings its error message must contain: the operation's name and
//! the values that show what was expected and what was found. With `FERRITE_PRINT_ERRORS=1`
//! (and `-- --nocapture --test-threads=1`) every refusal is printed as `area | case | message`:
//! that is where the example messages of `docs/errors.md` come from.

use std::fmt::{Debug, Display};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use ferrite::autograd::{GradcheckError, is_grad_enabled};
use ferrite::nn::checkpoint::{
    Checkpoint, from_safetensors_bytes, load_safetensors, save_safetensors, to_safetensors_bytes,
    write_atomic, write_atomic_with,
};
use ferrite::nn::data::{
    DataError, DataLoader, Dataset, Mnist, Normalize, Split, Subset, parse_idx, read_idx,
};
use ferrite::nn::loss::{CrossEntropyOptions, Reduction, cross_entropy, mse_loss, nll_loss};
use ferrite::nn::models::small_cnn;
use ferrite::nn::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, Buffer, CosineAnnealingLR,
    CosineAnnealingWarmRestarts, LinearLR, LrScheduler, OneCycleConfig, OneCycleLR, Optimizer,
    OptimizerState, ParamGroup, RMSprop, RMSpropConfig, ReduceLROnPlateau, ReduceLROnPlateauConfig,
    SequentialLR, Sgd, SgdConfig, StepLR, clip_grad_norm,
};
use ferrite::nn::{
    AvgPool2d, BatchNorm2d, BatchNorm2dConfig, BatchNormOptions, Dropout, Dropout2d, LinearConfig,
    MaxPool2d, StateDict, Strict, batch_norm2d, load_state_dict, state_dict, summary,
};
use ferrite::prelude::*;
use ferrite::tensor::{Conv2dParams, Pool2dParams};
use ferrite::tensor::{
    PadMode, avg_pool2d_backward, conv2d_backward, linear_backward, max_pool2d_backward,
    normalize_dim, pad_backward,
};
use ferrite::tensor::{gather_backward, index_select_backward, matmul_backward};

// ---------------------------------------------------------------------------------------
// The harness.

/// One test at a time: the panic hook below records panics globally (a panic inside a
/// rayon worker happens on another thread), so captures must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());
/// True while a case runs: the hook then records the panic instead of printing it.
static CAPTURING: AtomicBool = AtomicBool::new(false);
/// The first panic (message and location) recorded since the case started.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.load(Ordering::SeqCst) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "<non-string panic payload>".to_string());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_else(|| "<unknown location>".to_string());
                // When the panic is raised in std or a dependency, also name the first frame
                // in ferrite's own crates: that is where the fix goes.
                let ferrite_frame = if location.starts_with("crates/") {
                    String::new()
                } else {
                    let trace = std::backtrace::Backtrace::force_capture().to_string();
                    trace
                        .lines()
                        .map(str::trim)
                        .find_map(|l| {
                            let at = l.strip_prefix("at ")?;
                            let i = at.find("crates/ferrite")?;
                            Some(format!(" (from {})", &at[i..]))
                        })
                        .unwrap_or_default()
                };
                let mut slot = lock(&PANIC);
                if slot.is_none() {
                    *slot = Some(format!("panicked at {location}{ferrite_frame}: {message}"));
                }
            } else {
                default(info);
            }
        }));
    });
}

/// What a case did.
enum Outcome {
    Err(String),
    Ok(String),
    Panic(String),
}

/// Runs `f`, catching a panic.
fn run<T, E: Display>(
    f: impl FnOnce() -> Result<T, E>,
    show: impl FnOnce(&T) -> String,
) -> Outcome {
    *lock(&PANIC) = None;
    CAPTURING.store(true, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(f));
    CAPTURING.store(false, Ordering::SeqCst);
    match result {
        Ok(Ok(v)) => Outcome::Ok(show(&v)),
        Ok(Err(e)) => Outcome::Err(e.to_string()),
        Err(_) => Outcome::Panic(
            lock(&PANIC)
                .take()
                .unwrap_or_else(|| "panicked (no message recorded)".to_string()),
        ),
    }
}

fn short(s: String) -> String {
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &s[..cut])
    } else {
        s
    }
}

/// The cases of one test and the failures among them.
struct Audit {
    area: &'static str,
    cases: usize,
    failures: Vec<String>,
    _serial: MutexGuard<'static, ()>,
}

impl Audit {
    fn new(area: &'static str) -> Self {
        let serial = lock(&SERIAL);
        install_hook();
        Audit {
            area,
            cases: 0,
            failures: Vec::new(),
            _serial: serial,
        }
    }

    /// The case must return `Err` whose message contains every one of `needles`.
    fn refuses<T: Debug, E: Display>(
        &mut self,
        case: &str,
        needles: &[&str],
        f: impl FnOnce() -> Result<T, E>,
    ) {
        self.cases += 1;
        match run(f, |v| short(format!("{v:?}"))) {
            Outcome::Err(message) => {
                if std::env::var_os("FERRITE_PRINT_ERRORS").is_some() {
                    println!("{} | {case} | {message}", self.area);
                }
                let missing: Vec<&str> = needles
                    .iter()
                    .copied()
                    .filter(|n| !message.contains(n))
                    .collect();
                if !missing.is_empty() {
                    self.failures.push(format!(
                        "{case}: the error message does not name {missing:?}: \"{message}\""
                    ));
                }
            }
            Outcome::Ok(value) => self
                .failures
                .push(format!("{case}: accepted (expected an error): Ok({value})")),
            Outcome::Panic(p) => self.failures.push(format!("{case}: {p}")),
        }
    }

    /// The case must not panic and `f` must return `Ok(())`; `Err(why)` describes a
    /// silently wrong answer (or a missing refusal).
    fn holds(&mut self, case: &str, f: impl FnOnce() -> Result<(), String>) {
        self.cases += 1;
        match run(f, |_| String::new()) {
            Outcome::Ok(_) => {}
            Outcome::Err(why) => self.failures.push(format!("{case}: {why}")),
            Outcome::Panic(p) => self.failures.push(format!("{case}: {p}")),
        }
    }

    /// The case must not panic (an `Ok` or an `Err` are both fine).
    fn no_panic<T, E: Display>(&mut self, case: &str, f: impl FnOnce() -> Result<T, E>) {
        self.cases += 1;
        if let Outcome::Panic(p) = run(f, |_| String::new()) {
            self.failures.push(format!("{case}: {p}"));
        }
    }

    /// The case must panic (a panicking convenience, documented in `# Panics`) with a
    /// message that contains every one of `needles`.
    fn panics_with<T>(&mut self, case: &str, needles: &[&str], f: impl FnOnce() -> T) {
        self.cases += 1;
        match run(|| Ok::<T, String>(f()), |_| String::new()) {
            Outcome::Panic(p) => {
                if std::env::var_os("FERRITE_PRINT_ERRORS").is_some() {
                    println!("{} | {case} | {p}", self.area);
                }
                let missing: Vec<&str> =
                    needles.iter().copied().filter(|n| !p.contains(n)).collect();
                if !missing.is_empty() {
                    self.failures.push(format!(
                        "{case}: the panic message does not name {missing:?}: {p}"
                    ));
                }
            }
            Outcome::Ok(_) | Outcome::Err(_) => {
                self.failures.push(format!("{case}: did not panic"))
            }
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} cases broke the promise:\n  - {}\n",
            self.area,
            self.failures.len(),
            self.cases,
            self.failures.join("\n  - ")
        );
    }
}

/// `Err(description)` unless `ok`.
fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

fn t(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(data.to_vec(), shape).unwrap()
}

fn z(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrite-no-panics-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The FNV-1a 64-bit hash of the checkpoint format (to forge files with a valid checksum).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// bincode 2 "standard" varint of `v`.
fn varint(v: u64, out: &mut Vec<u8>) {
    if v < 251 {
        out.push(v as u8);
    } else if v <= u64::from(u16::MAX) {
        out.push(251);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(252);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A version-1 f32 checkpoint with a valid checksum holding one tensor `name` of the given
/// shape and raw data bytes (nothing else).
fn forged_checkpoint(name: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    forged_checkpoint_of(&[(name, shape, data)], &[])
}

/// A version-1 f32 checkpoint with a valid checksum holding the given parameters, followed
/// in the payload by `trailing` (bytes that do not belong to the record).
fn forged_checkpoint_of(params: &[(&str, &[u64], &[u8])], trailing: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    varint(0, &mut payload); // epoch
    varint(params.len() as u64, &mut payload);
    for (name, shape, data) in params {
        varint(name.len() as u64, &mut payload);
        payload.extend_from_slice(name.as_bytes());
        varint(shape.len() as u64, &mut payload);
        for &d in *shape {
            varint(d, &mut payload);
        }
        varint(data.len() as u64, &mut payload);
        payload.extend_from_slice(data);
    }
    varint(0, &mut payload); // extra: none
    payload.push(0); // optimizer: None
    payload.push(0); // rng: None
    varint(0, &mut payload); // metadata: none
    payload.extend_from_slice(trailing);
    sealed_checkpoint(&payload)
}

/// Header, `payload` and a valid checksum.
fn sealed_checkpoint(payload: &[u8]) -> Vec<u8> {
    let mut out = b"FERRITE\0".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(b"f32\0");
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = fnv1a64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// A safetensors file with the given JSON header and data bytes.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// An IDX file of unsigned bytes.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

const HUGE: usize = usize::MAX / 2;

// ---------------------------------------------------------------------------------------
// The cases, one file per area (tests/no_panics/*.rs).

#[path = "no_panics/autograd.rs"]
mod autograd;
#[path = "no_panics/checkpoint.rs"]
mod checkpoint;
#[path = "no_panics/data.rs"]
mod data;
#[path = "no_panics/edges.rs"]
mod edges;
#[path = "no_panics/layers.rs"]
mod layers;
#[path = "no_panics/optim.rs"]
mod optim;
#[path = "no_panics/tensor.rs"]
mod tensor;
