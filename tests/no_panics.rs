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
// ferrite-tensor

#[test]
fn tensor_creation_refuses_bad_shapes() {
    let mut a = Audit::new("Tensor creation");
    a.refuses(
        "from_vec: 3 values for [2, 2]",
        &["from_vec", "[2, 2]", "4", "3"],
        || Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[2, 2]),
    );
    a.refuses(
        "from_vec: overflowing shape [usize::MAX/2, 4]",
        &["from_vec", "9223372036854775807, 4"],
        || Tensor::<f32>::from_vec(vec![], &[HUGE, 4]),
    );
    a.refuses(
        "from_vec: empty data for [0, usize::MAX, 2] (product of non-zero dims overflows)",
        &["from_vec", "18446744073709551615"],
        || Tensor::<f32>::from_vec(vec![], &[0, usize::MAX, 2]),
    );
    a.refuses("arange: zero step", &["arange", "0", "1"], || {
        Tensor::<f32>::arange(0.0, 1.0, 0.0)
    });
    a.refuses("arange: step away from end", &["arange", "-1"], || {
        Tensor::<f32>::arange(0.0, 1.0, -1.0)
    });
    a.refuses("arange: NaN end", &["arange", "NaN"], || {
        Tensor::<f64>::arange(0.0, f64::NAN, 1.0)
    });
    a.refuses(
        "arange: more values than memory can hold (0 to f64::MAX by 1)",
        &["arange"],
        || Tensor::<f64>::arange(0.0, f64::MAX, 1.0).map(|t| t.numel()),
    );
    a.refuses("item: two elements", &["item", "[2]"], || z(&[2]).item());
    a.refuses("item: no element", &["item", "[0]"], || z(&[0]).item());
    a.refuses(
        "normalize_dim: 3 of 3 dims",
        &["sum", "3", "-3 to 2"],
        || normalize_dim("sum", 3, 3),
    );
    a.refuses(
        "normalize_dim: isize::MIN",
        &["sum", "-9223372036854775808"],
        || normalize_dim("sum", isize::MIN, 3),
    );
    a.finish();
}

/// The constructors that return a `Tensor` (not a `Result`) with a shape whose element
/// count overflows: they cannot refuse, so they panic (documented in `# Panics`) with the
/// message of their fallible `try_` form, which refuses the shape.
#[test]
fn infallible_constructors_with_overflowing_shapes() {
    let mut a = Audit::new("infallible constructors");
    let mut rng = seeded_rng(0);
    let shape = &[HUGE, 4];
    let numbers = "[9223372036854775807, 4]";
    a.refuses(
        "Tensor::try_zeros([usize::MAX/2, 4])",
        &["zeros", numbers],
        || Tensor::<f32>::try_zeros(shape),
    );
    a.refuses(
        "Tensor::try_ones([usize::MAX/2, 4])",
        &["ones", numbers],
        || Tensor::<f32>::try_ones(shape),
    );
    a.refuses(
        "Tensor::try_full([usize::MAX/2, 4])",
        &["full", numbers],
        || Tensor::<f32>::try_full(shape, 1.0),
    );
    a.refuses(
        "Tensor::try_rand([usize::MAX/2, 4])",
        &["rand", numbers],
        || Tensor::<f32>::try_rand(shape, &mut rng),
    );
    a.refuses(
        "Tensor::try_randn([usize::MAX/2, 4])",
        &["randn", numbers],
        || Tensor::<f32>::try_randn(shape, &mut rng),
    );
    a.refuses(
        "Tensor::try_uniform([usize::MAX/2, 4])",
        &["uniform", numbers],
        || Tensor::<f32>::try_uniform(shape, 0.0, 1.0, &mut rng),
    );
    a.refuses(
        "Tensor::try_normal([usize::MAX/2, 4])",
        &["normal", numbers],
        || Tensor::<f32>::try_normal(shape, 0.0, 1.0, &mut rng),
    );
    a.refuses(
        "Tensor::try_zeros([2^31, 2^31]): 2^62 elements, 2^64 bytes",
        &["zeros", "[2147483648, 2147483648]"],
        || Tensor::<f32>::try_zeros(&[1 << 31, 1 << 31]),
    );

    a.panics_with(
        "Tensor::zeros([usize::MAX/2, 4])",
        &["zeros: ", numbers],
        || Tensor::<f32>::zeros(shape),
    );
    a.panics_with(
        "Tensor::ones([usize::MAX/2, 4])",
        &["ones: ", numbers],
        || Tensor::<f32>::ones(shape),
    );
    a.panics_with(
        "Tensor::full([usize::MAX/2, 4])",
        &["full: ", numbers],
        || Tensor::<f32>::full(shape, 1.0),
    );
    a.panics_with(
        "Tensor::rand([usize::MAX/2, 4])",
        &["rand: ", numbers],
        || Tensor::<f32>::rand(shape, &mut rng),
    );
    a.panics_with(
        "Tensor::randn([usize::MAX/2, 4])",
        &["randn: ", numbers],
        || Tensor::<f32>::randn(shape, &mut rng),
    );
    a.panics_with(
        "Tensor::uniform([usize::MAX/2, 4])",
        &["uniform: ", numbers],
        || Tensor::<f32>::uniform(shape, 0.0, 1.0, &mut rng),
    );
    a.panics_with(
        "Tensor::normal([usize::MAX/2, 4])",
        &["normal: ", numbers],
        || Tensor::<f32>::normal(shape, 0.0, 1.0, &mut rng),
    );
    a.panics_with(
        "init::zeros([usize::MAX/2, 4])",
        &["zeros: ", numbers],
        || init::zeros::<f32>(shape),
    );
    a.panics_with(
        "init::uniform([usize::MAX/2, 4])",
        &["uniform: ", numbers],
        || init::uniform::<f32>(shape, 0.0, 1.0, &mut rng),
    );
    a.finish();
}

#[test]
fn tensor_elementwise_and_shape_ops_refuse_bad_dims() {
    let mut a = Audit::new("Tensor elementwise and shape ops");
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    a.refuses("add [2, 3] + [4]", &["add", "[2, 3]", "[4]"], || {
        x.add(&z(&[4]))
    });
    a.refuses("sub [2, 3] - [2]", &["sub", "[2, 3]", "[2]"], || {
        x.sub(&z(&[2]))
    });
    a.refuses("mul [2, 3] * [3, 2]", &["mul", "[2, 3]", "[3, 2]"], || {
        x.mul(&z(&[3, 2]))
    });
    a.refuses("div [2, 3] / [0]", &["div", "[2, 3]", "[0]"], || {
        x.div(&z(&[0]))
    });
    a.refuses("zip_with: mismatch", &["my_op", "[2, 3]", "[5]"], || {
        x.zip_with("my_op", &z(&[5]), |a, b| a + b)
    });
    a.refuses("sum_to [2, 3] -> [4]", &["sum_to", "[2, 3]", "[4]"], || {
        x.sum_to(&[4])
    });
    a.refuses(
        "sum_to [2, 3] -> [3, 3]",
        &["sum_to", "[2, 3]", "[3, 3]"],
        || x.sum_to(&[3, 3]),
    );

    a.refuses(
        "reshape to [usize::MAX/2, 4]",
        &["reshape", "9223372036854775807, 4", "6"],
        || x.reshape(&[HUGE as isize, 4]),
    );
    a.refuses("reshape to [4]", &["reshape", "[4]", "6"], || {
        x.reshape(&[4])
    });
    a.refuses("reshape with two -1", &["reshape", "-1, -1"], || {
        x.reshape(&[-1, -1])
    });
    a.refuses("reshape with -2", &["reshape", "-2"], || {
        x.reshape(&[-2, 3])
    });
    a.refuses("reshape to [0, -1]", &["reshape", "[0, -1]"], || {
        x.reshape(&[0, -1])
    });
    a.refuses(
        "reshape an empty tensor to [0, isize::MAX, isize::MAX]",
        &["reshape", "[0, 9223372036854775807, 9223372036854775807]"],
        || z(&[0]).reshape(&[0, isize::MAX, isize::MAX]),
    );
    a.refuses("flatten(1, 0)", &["flatten", "1", "0"], || x.flatten(1, 0));
    a.refuses(
        "flatten(0, 2) of 2-D",
        &["flatten", "2", "2 dimensions"],
        || x.flatten(0, 2),
    );
    a.refuses("flatten(-3, -1) of 2-D", &["flatten", "-3"], || {
        x.flatten(-3, -1)
    });
    a.refuses("flatten(1, 1) of 0-D", &["flatten", "1"], || {
        Tensor::<f32>::scalar(1.0).flatten(1, 1)
    });
    a.refuses(
        "permute with 1 dim for 2-D",
        &["permute", "[0]", "[2, 3]"],
        || x.permute(&[0]),
    );
    a.refuses("permute with repeated dim", &["permute", "[0, 0]"], || {
        x.permute(&[0, 0])
    });
    a.refuses(
        "permute with -1, 1 (same dim)",
        &["permute", "[-1, 1]"],
        || x.permute(&[-1, 1]),
    );
    a.refuses("permute with dim 2 of 2-D", &["permute", "2"], || {
        x.permute(&[0, 2])
    });
    a.refuses("transpose(0, 2)", &["transpose", "2"], || x.transpose(0, 2));
    a.refuses("transpose(-3, 0)", &["transpose", "-3"], || {
        x.transpose(-3, 0)
    });
    a.refuses("transpose(0, 1) of 0-D", &["transpose", "1"], || {
        Tensor::<f32>::scalar(1.0).transpose(0, 1)
    });
    a.refuses("squeeze(2)", &["squeeze", "2"], || x.squeeze(2));
    a.refuses("squeeze(-3)", &["squeeze", "-3"], || x.squeeze(-3));
    a.refuses("unsqueeze(4) of 2-D", &["unsqueeze", "4"], || {
        x.unsqueeze(4)
    });
    a.refuses("unsqueeze(-4) of 2-D", &["unsqueeze", "-4"], || {
        x.unsqueeze(-4)
    });
    a.refuses(
        "narrow(1, 2, 2): past the end",
        &["narrow", "2", "3"],
        || x.narrow(1, 2, 2),
    );
    a.refuses(
        "narrow(0, usize::MAX, 2): start + length overflows",
        &["narrow", "18446744073709551615"],
        || x.narrow(0, usize::MAX, 2),
    );
    a.refuses("narrow(2, ..) of 2-D", &["narrow", "2"], || {
        x.narrow(2, 0, 1)
    });
    a.refuses("narrow of 0-D", &["narrow", "0-dimensional"], || {
        Tensor::<f32>::scalar(1.0).narrow(0, 0, 1)
    });
    a.refuses(
        "broadcast_to [2, 3] -> [3, 3]",
        &["broadcast_to", "[2, 3]", "[3, 3]"],
        || x.broadcast_to(&[3, 3]),
    );
    a.refuses(
        "broadcast_to [2, 3] -> [3]",
        &["broadcast_to", "[2, 3]", "[3]"],
        || x.broadcast_to(&[3]),
    );
    a.refuses(
        "broadcast_to [1] -> [usize::MAX, 2]",
        &["broadcast_to", "18446744073709551615, 2"],
        || z(&[1]).broadcast_to(&[usize::MAX, 2]),
    );
    a.refuses("cat of nothing", &["cat", "none"], || {
        Tensor::<f32>::cat(&[], 0)
    });
    a.refuses("cat of 0-D", &["cat", "0-dimensional"], || {
        Tensor::<f32>::cat(&[&Tensor::scalar(1.0)], 0)
    });
    a.refuses(
        "cat [2, 3] with [2, 4] on dim 0",
        &["cat", "[2, 4]", "[2, 3]"],
        || Tensor::cat(&[&x, &z(&[2, 4])], 0),
    );
    a.refuses(
        "cat [2, 3] with [3] (rank)",
        &["cat", "[3]", "[2, 3]"],
        || Tensor::cat(&[&x, &z(&[3])], 0),
    );
    a.refuses("cat on dim 2", &["cat", "2"], || Tensor::cat(&[&x, &x], 2));
    a.refuses("stack of nothing", &["stack", "none"], || {
        Tensor::<f32>::stack(&[], 0)
    });
    a.refuses(
        "stack [2, 3] with [3, 2]",
        &["stack", "[3, 2]", "[2, 3]"],
        || Tensor::stack(&[&x, &z(&[3, 2])], 0),
    );
    a.refuses("stack on dim 3", &["stack", "3"], || {
        Tensor::stack(&[&x, &x], 3)
    });
    a.finish();
}

#[test]
fn tensor_reductions_and_products_refuse_bad_dims() {
    let mut a = Audit::new("Tensor reductions, matmul, linear");
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    a.refuses("sum over dim 2", &["sum", "2", "2 dimensions"], || {
        x.sum(&[2], false)
    });
    a.refuses("sum over dim -3", &["sum", "-3"], || x.sum(&[-3], false));
    a.refuses("sum over [0, 0]", &["sum", "[0, 0]"], || {
        x.sum(&[0, 0], false)
    });
    a.refuses("sum over [1, -1]", &["sum", "[1, -1]"], || {
        x.sum(&[1, -1], false)
    });
    a.refuses("mean over dim 5", &["mean", "5"], || x.mean(&[5], true));
    a.refuses("mean over [0, -2]", &["mean", "[0, -2]"], || {
        x.mean(&[0, -2], true)
    });
    a.refuses("amax over dim 2", &["amax", "2"], || x.amax(&[2], false));
    a.refuses("amax over an empty dim", &["amax", "[0, 3]"], || {
        z(&[0, 3]).amax(&[0], false)
    });
    a.refuses("amin of an empty tensor", &["amin", "[0]"], || {
        z(&[0]).amin(&[], false)
    });
    a.refuses("amax over [0, -2]", &["amax", "[0, -2]"], || {
        x.amax(&[0, -2], false)
    });
    a.refuses("max(dim) over dim 2", &["max", "2"], || x.max(2, false));
    a.refuses("min(dim) over an empty dim", &["min", "[3, 0]"], || {
        z(&[3, 0]).min(1, true)
    });
    a.refuses("argmin over an empty dim", &["argmin", "[3, 0]"], || {
        z(&[3, 0]).argmin(-1, false)
    });
    a.refuses("logsumexp over dim 2", &["logsumexp", "2"], || {
        x.logsumexp(&[2], false)
    });
    a.refuses("var over dim -3", &["var", "-3"], || {
        x.var(&[-3], 1.0, false)
    });
    a.refuses("std over [1, 1]", &["std", "[1, 1]"], || {
        x.std(&[1, 1], 1.0, false)
    });
    a.holds("logsumexp over an empty dim is -inf", || {
        let y = z(&[2, 0])
            .logsumexp(&[1], false)
            .map_err(|e| e.to_string())?;
        ensure(y.to_vec() == [f32::NEG_INFINITY; 2], || {
            format!("got {y:?}")
        })
    });
    let index = |v: &[i64], shape: &[usize]| Indices::from_vec(v.to_vec(), shape).unwrap();
    a.refuses("gather: index 3 of 3", &["gather", "3"], || {
        x.gather(1, &index(&[3, 0], &[2, 1]))
    });
    a.refuses("gather: index -1", &["gather", "-1"], || {
        x.gather(1, &index(&[-1, 0], &[2, 1]))
    });
    a.refuses(
        "gather: 1-D index of a 2-D input",
        &["gather", "[2]"],
        || x.gather(1, &index(&[0, 0], &[2])),
    );
    a.refuses(
        "gather: index larger in another dim",
        &["gather", "[3, 1]", "dimension 0"],
        || x.gather(1, &index(&[0, 0, 0], &[3, 1])),
    );
    a.refuses("gather: dim 2", &["gather", "2"], || {
        x.gather(2, &index(&[0], &[1, 1]))
    });
    a.refuses(
        "index_select: 2-D index",
        &["index_select", "[1, 2]"],
        || x.index_select(0, &index(&[0, 1], &[1, 2])),
    );
    a.refuses("index_select: index 2 of 2", &["index_select", "2"], || {
        x.index_select(0, &Indices::from_classes(&[2]))
    });
    a.refuses(
        "index_select: two indices of a 0-d input",
        &["index_select", "0-d"],
        || Tensor::<f32>::scalar(1.0).index_select(0, &Indices::from_classes(&[0, 0])),
    );
    a.refuses(
        "gather_backward: grad_output of another shape",
        &["gather_backward", "[2, 1]", "[3]"],
        || gather_backward(&z(&[3]), &index(&[0, 1], &[2, 1]), 1, &[2, 3]),
    );
    a.refuses(
        "index_select_backward: grad_output of another shape",
        &["index_select_backward", "[1, 3]", "[3]"],
        || index_select_backward(&z(&[3]), &Indices::from_classes(&[1]), 0, &[2, 3]),
    );
    a.refuses("argmax over dim 2", &["argmax", "2"], || x.argmax(2, false));
    a.refuses("argmax over an empty dim", &["argmax", "[3, 0]"], || {
        z(&[3, 0]).argmax(1, false)
    });

    a.refuses(
        "matmul [2, 3] x [4, 5]",
        &["matmul", "[2, 3]", "[4, 5]"],
        || x.matmul(&z(&[4, 5])),
    );
    a.refuses("matmul [2, 3] x [2]", &["matmul", "[2, 3]", "[2]"], || {
        x.matmul(&z(&[2]))
    });
    a.refuses("matmul 0-D", &["matmul", "[]"], || {
        x.matmul(&Tensor::scalar(1.0))
    });
    a.refuses("matmul [3] x [4]", &["matmul", "[3]", "[4]"], || {
        z(&[3]).matmul(&z(&[4]))
    });
    a.refuses(
        "matmul batch [2] x batch [3] in 4-D",
        &["matmul", "[1, 2, 2, 3]", "[3, 3, 4]"],
        || z(&[1, 2, 2, 3]).matmul(&z(&[3, 3, 4])),
    );
    a.holds("matmul 4-D x 3-D broadcasts the batch", || {
        let y = z(&[2, 1, 2, 3])
            .matmul(&z(&[5, 3, 4]))
            .map_err(|e| e.to_string())?;
        ensure(y.shape() == [2, 5, 2, 4], || format!("got {:?}", y.shape()))
    });
    a.refuses(
        "matmul_backward: grad_output of another shape",
        &["matmul_backward", "[2, 4]", "[2, 5]"],
        || matmul_backward(&x, &z(&[3, 4]), &z(&[2, 5]), [true, true]),
    );
    a.refuses(
        "matmul batch 2 x batch 3",
        &["matmul", "[2, 2, 3]", "[3, 3, 4]"],
        || z(&[2, 2, 3]).matmul(&z(&[3, 3, 4])),
    );
    a.holds("matmul [2, 0] x [0, 3] is zeros [2, 3]", || {
        let y = z(&[2, 0]).matmul(&z(&[0, 3])).map_err(|e| e.to_string())?;
        ensure(
            y.shape() == [2, 3] && y.to_vec().iter().all(|&v| v == 0.0),
            || format!("got {y:?}"),
        )
    });

    a.refuses(
        "linear: 3 features, weight expects 4",
        &["linear", "3", "4", "[2, 3]", "[5, 4]"],
        || x.linear(&z(&[5, 4]), None),
    );
    a.refuses("linear: 1-D weight", &["linear", "2-D", "[3]"], || {
        x.linear(&z(&[3]), None)
    });
    a.refuses(
        "linear: bias [4] for 5 outputs",
        &["linear", "[5]", "[4]"],
        || x.linear(&z(&[5, 3]), Some(&z(&[4]))),
    );
    a.refuses("linear: 0-D input", &["linear", "[]"], || {
        Tensor::<f32>::scalar(1.0).linear(&z(&[5, 3]), None)
    });
    a.holds(
        "linear: 0 in_features gives the bias, [5, 0] x [3, 0]^T -> [5, 3]",
        || {
            let y = z(&[5, 0])
                .linear(&z(&[3, 0]), Some(&t(&[1.0, 2.0, 3.0], &[3])))
                .map_err(|e| format!("refused: {e}"))?;
            ensure(
                y.shape() == [5, 3] && y.to_vec()[..3] == [1.0, 2.0, 3.0],
                || format!("got {y:?}"),
            )
        },
    );
    a.refuses(
        "linear_backward: grad_output [2, 4] for output [2, 5]",
        &["linear_backward", "[2, 5]", "[2, 4]"],
        || linear_backward(&x, &z(&[5, 3]), &z(&[2, 4]), [true, true, true]),
    );
    a.finish();
}

#[test]
fn tensor_conv2d_refuses_bad_params() {
    let mut a = Audit::new("conv2d / pad");
    let x = z(&[1, 3, 8, 8]);
    let w = z(&[4, 3, 3, 3]);
    let p = Conv2dParams::default();
    a.refuses("conv2d: 2-D input", &["conv2d", "4-D", "[8, 8]"], || {
        z(&[8, 8]).conv2d(&w, None, &p)
    });
    a.refuses(
        "conv2d: 2-D weight",
        &["conv2d", "4-D weight", "[4, 27]"],
        || x.conv2d(&z(&[4, 27]), None, &p),
    );
    a.refuses(
        "conv2d: 3 channels, weight expects 1",
        &[
            "conv2d",
            "3 channels",
            "expects 1",
            "[1, 3, 8, 8]",
            "[4, 1, 3, 3]",
        ],
        || x.conv2d(&z(&[4, 1, 3, 3]), None, &p),
    );
    a.refuses("conv2d: groups 0", &["conv2d", "groups", "0"], || {
        x.conv2d(&w, None, &p.with_groups(0))
    });
    a.refuses(
        "conv2d: groups 2 with 3 input channels",
        &["conv2d", "groups=2", "3"],
        || x.conv2d(&z(&[4, 1, 3, 3]), None, &p.with_groups(2)),
    );
    a.refuses(
        "conv2d: groups 3 with 4 output channels",
        &["conv2d", "groups=3", "4"],
        || x.conv2d(&z(&[4, 1, 3, 3]), None, &p.with_groups(3)),
    );
    a.refuses("conv2d: stride 0", &["conv2d", "stride", "[0, 1]"], || {
        x.conv2d(&w, None, &p.with_stride([0, 1]))
    });
    a.refuses(
        "conv2d: dilation 0",
        &["conv2d", "dilation", "[1, 0]"],
        || x.conv2d(&w, None, &p.with_dilation([1, 0])),
    );
    a.refuses(
        "conv2d: kernel 9x9 on 8x8",
        &["conv2d", "[9, 9]", "[8, 8]"],
        || x.conv2d(&z(&[4, 3, 9, 9]), None, &p),
    );
    a.refuses(
        "conv2d: zero-size kernel",
        &["conv2d", "kernel", "[0, 3]"],
        || x.conv2d(&z(&[4, 3, 0, 3]), None, &p),
    );
    a.refuses(
        "conv2d: padding 'same' with stride 2",
        &["conv2d", "same", "[2, 2]"],
        || x.conv2d(&w, None, &p.with_padding(Padding::Same).with_stride([2, 2])),
    );
    a.refuses(
        "conv2d: bias [3] for 4 output channels",
        &["conv2d", "[4]", "[3]"],
        || x.conv2d(&w, Some(&z(&[3])), &p),
    );
    a.refuses(
        "conv2d: padding usize::MAX overflows",
        &["conv2d", "overflow", "18446744073709551615"],
        || {
            x.conv2d(
                &w,
                None,
                &p.with_padding(Padding::Explicit([usize::MAX, 0])),
            )
        },
    );
    a.refuses(
        "conv2d: 'same' with dilation usize::MAX overflows",
        &["conv2d", "too large"],
        || {
            x.conv2d(
                &w,
                None,
                &p.with_padding(Padding::Same).with_dilation([usize::MAX, 1]),
            )
        },
    );
    // A 1x1 input, replicate padding 2^59 per side (a Conv2d layer with padding 2^59 and
    // stride 2^62 pads like this first): the padded index maps alone would need 2^64 bytes.
    a.no_panic("pad: replicate padding 2^59 on a 1x1 input", || {
        t(&[7.0], &[1, 1, 1, 1]).pad(&[1 << 59; 4], PadMode::Replicate)
    });
    a.holds("conv2d: zero input channels gives the bias", || {
        let y = z(&[1, 0, 5, 5])
            .conv2d(&z(&[2, 0, 3, 3]), Some(&t(&[1.0, 2.0], &[2])), &p)
            .map_err(|e| format!("refused: {e}"))?;
        ensure(
            y.shape() == [1, 2, 3, 3] && y.to_vec()[0] == 1.0 && y.to_vec()[9] == 2.0,
            || format!("got {y:?}"),
        )
    });
    a.refuses(
        "output_size: stride 0",
        &["conv2d", "stride", "[0, 1]"],
        || p.with_stride([0, 1]).output_size([5, 5], [3, 3]),
    );
    a.refuses(
        "output_size: kernel larger than input",
        &["conv2d", "[3, 3]", "[2, 2]"],
        || p.output_size([2, 2], [3, 3]),
    );
    a.refuses(
        "resolve_padding: 'same' with stride 2",
        &["conv2d", "same"],
        || {
            p.with_padding(Padding::Same)
                .with_stride([2, 1])
                .resolve_padding([3, 3])
        },
    );
    a.refuses(
        "conv2d_backward: grad_output of the wrong shape",
        &["conv2d_backward", "[1, 4, 5, 5]", "[1, 4, 6, 6]"],
        || conv2d_backward(&z(&[1, 4, 5, 5]), &x, &w, &p, [true, true, true]),
    );
    a.refuses(
        "conv2d_backward: channel mismatch",
        &["conv2d_backward", "3 channels", "expects 2"],
        || {
            conv2d_backward(
                &z(&[1, 4, 6, 6]),
                &x,
                &z(&[4, 2, 3, 3]),
                &p,
                [true, true, true],
            )
        },
    );
    a.refuses(
        "pad: 2 pairs on a 1-D input",
        &["pad", "2 dimensions", "[8]"],
        || z(&[8]).pad(&[1, 1, 1, 1], PadMode::Constant(0.0)),
    );
    a.refuses("pad: odd length", &["pad", "pairs", "3 entries"], || {
        x.pad(&[1, 1, 1], PadMode::Constant(0.0))
    });
    a.refuses(
        "pad: reflect on a 2-D input",
        &["pad", "reflect", "3-D or 4-D", "[8, 8]"],
        || z(&[8, 8]).pad(&[1, 1, 1, 1], PadMode::Reflect),
    );
    a.refuses("pad: reflect 8 on 8", &["pad", "reflect", "8"], || {
        x.pad(&[0, 0, 8, 0], PadMode::Reflect)
    });
    a.refuses("pad: circular 9 on 8", &["pad", "circular", "9"], || {
        x.pad(&[9, 1, 0, 0], PadMode::Circular)
    });
    a.refuses(
        "pad: replicate on an empty plane",
        &["pad", "replicate", "0"],
        || z(&[1, 1, 0, 4]).pad(&[0, 0, 1, 0], PadMode::Replicate),
    );
    a.refuses(
        "pad: padding isize::MAX",
        &["pad", "9223372036854775807"],
        || x.pad(&[isize::MAX, 1, 0, 0], PadMode::Constant(0.0)),
    );
    a.refuses("pad: crop below zero", &["pad", "(-5, -4)", "-1"], || {
        x.pad(&[-5, -4, 0, 0], PadMode::Constant(0.0))
    });
    a.refuses(
        "pad_backward: grad of the wrong shape",
        &["pad_backward", "[1, 3, 9, 9]", "[1, 3, 10, 10]"],
        || {
            pad_backward(
                &z(&[1, 3, 9, 9]),
                &[1, 3, 8, 8],
                &[1, 1, 1, 1],
                PadMode::Reflect,
            )
        },
    );
    a.refuses(
        "pad_backward: 2-D grad",
        &["pad_backward", "[9, 9]"],
        || {
            pad_backward(
                &z(&[9, 9]),
                &[1, 1, 8, 8],
                &[1, 0, 1, 0],
                PadMode::Constant(0.0),
            )
        },
    );
    a.finish();
}

#[test]
fn tensor_pooling_refuses_bad_params() {
    let mut a = Audit::new("pooling");
    let x = z(&[1, 2, 6, 6]);
    let p = Pool2dParams::new([2, 2]);
    a.refuses("max_pool2d: 2-D input", &["max_pool2d", "[6, 6]"], || {
        z(&[6, 6]).max_pool2d(&p)
    });
    a.refuses(
        "max_pool2d: 5-D input",
        &["max_pool2d", "[1, 1, 2, 6, 6]"],
        || z(&[1, 1, 2, 6, 6]).max_pool2d(&p),
    );
    a.refuses(
        "max_pool2d: zero channels",
        &["max_pool2d", "[1, 0, 6, 6]"],
        || z(&[1, 0, 6, 6]).max_pool2d(&p),
    );
    a.refuses(
        "max_pool2d: kernel 0",
        &["max_pool2d", "kernel_size", "[0, 2]"],
        || x.max_pool2d(&Pool2dParams::new([0, 2])),
    );
    a.refuses(
        "max_pool2d: stride 0",
        &["max_pool2d", "stride", "[0, 0]"],
        || x.max_pool2d(&p.with_stride([0, 0])),
    );
    a.refuses(
        "max_pool2d: dilation 0",
        &["max_pool2d", "dilation", "[0, 1]"],
        || x.max_pool2d(&p.with_dilation([0, 1])),
    );
    a.refuses(
        "max_pool2d: padding 2 for kernel 2",
        &["max_pool2d", "pad", "[2, 0]", "[1, 1]"],
        || x.max_pool2d(&p.with_padding([2, 0])),
    );
    a.refuses(
        "max_pool2d: kernel 7 on 6x6",
        &["max_pool2d", "[6, 6]", "[7, 7]"],
        || x.max_pool2d(&Pool2dParams::new([7, 7])),
    );
    a.refuses(
        "avg_pool2d: dilation",
        &["avg_pool2d", "dilation", "[2, 2]"],
        || x.avg_pool2d(&p.with_dilation([2, 2])),
    );
    a.refuses(
        "avg_pool2d: kernel 7 on 6x6",
        &["avg_pool2d", "[6, 6]", "[7, 7]"],
        || x.avg_pool2d(&Pool2dParams::new([7, 7])),
    );
    a.refuses("output_size: zero plane", &["pool2d", "[0, 4]"], || {
        p.output_size([0, 4])
    });
    // kernel_size usize::MAX with padding usize::MAX / 2 (allowed: at most half the kernel):
    // the single window covers the single input element 5, so the answer is 5 (or an error).
    a.holds(
        "max_pool2d: kernel usize::MAX, padding usize::MAX/2 on one element",
        || {
            let params = Pool2dParams::new([usize::MAX, 1]).with_padding([HUGE, 0]);
            match t(&[5.0], &[1, 1, 1, 1]).max_pool2d(&params) {
                Err(_) => Ok(()),
                Ok(y) if y.to_vec() == [5.0] => Ok(()),
                Ok(y) => Err(format!(
                    "silently wrong: returned {:?} instead of [5.0]",
                    y.to_vec()
                )),
            }
        },
    );
    a.refuses(
        "max_pool2d_backward: 3 indices for 4 gradients",
        &["max_pool2d_backward", "4", "3"],
        || max_pool2d_backward(&z(&[1, 1, 2, 2]), &[0, 1, 2], &[1, 1, 4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: index outside the plane",
        &["max_pool2d_backward", "16", "below 16"],
        || max_pool2d_backward(&z(&[1, 1, 1, 1]), &[16], &[1, 1, 4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: grad of another batch",
        &["max_pool2d_backward", "[2, 1, 2, 2]", "[1, 1, 4, 4]"],
        || max_pool2d_backward(&z(&[2, 1, 2, 2]), &[0; 8], &[1, 1, 4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: 2-D input shape",
        &["max_pool2d_backward", "[4, 4]"],
        || max_pool2d_backward(&z(&[2, 2]), &[0; 4], &[4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: input shape [1, 1, 2^31, 2^31] (2^62 elements)",
        &["max_pool2d_backward", "2147483648"],
        || max_pool2d_backward(&z(&[1, 1, 1, 1]), &[0], &[1, 1, 1 << 31, 1 << 31]),
    );
    a.refuses(
        "avg_pool2d_backward: grad of the wrong shape",
        &["avg_pool2d_backward", "[1, 2, 3, 3]", "[1, 2, 2, 2]"],
        || avg_pool2d_backward(&z(&[1, 2, 2, 2]), &[1, 2, 6, 6], &p),
    );
    a.refuses(
        "avg_pool2d_backward: input shape [1, 1, 2^31, 2^31] (2^62 elements)",
        &["avg_pool2d_backward", "2147483648"],
        || {
            avg_pool2d_backward(
                &z(&[1, 1, 1, 1]),
                &[1, 1, 1 << 31, 1 << 31],
                &Pool2dParams::new([1 << 31, 1 << 31]),
            )
        },
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// ferrite-autograd

#[test]
fn var_ops_refuse_bad_dims() {
    let mut a = Audit::new("Var ops");
    let x = Var::parameter(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let c = Var::new(z(&[4]));
    a.refuses("Var::add [2, 3] + [4]", &["add", "[2, 3]", "[4]"], || {
        x.add(&c)
    });
    a.refuses("Var::sub", &["sub", "[2, 3]", "[4]"], || x.sub(&c));
    a.refuses("Var::mul", &["mul", "[2, 3]", "[4]"], || x.mul(&c));
    a.refuses("Var::div", &["div", "[2, 3]", "[4]"], || x.div(&c));
    a.refuses(
        "Var::matmul [2, 3] x [4]",
        &["matmul", "[2, 3]", "[4]"],
        || x.matmul(&c),
    );
    a.refuses(
        "Var::linear: feature mismatch",
        &["linear", "3", "4"],
        || x.linear(&Var::parameter(z(&[2, 4])), None),
    );
    a.refuses(
        "Var::reshape to [usize::MAX/2, 4]",
        &["reshape", "9223372036854775807, 4"],
        || x.reshape(&[HUGE as isize, 4]),
    );
    a.refuses("Var::flatten(1, 0)", &["flatten", "1", "0"], || {
        x.flatten(1, 0)
    });
    a.refuses("Var::permute([1, 1])", &["permute", "[1, 1]"], || {
        x.permute(&[1, 1])
    });
    a.refuses("Var::permute([0, 5])", &["permute", "5"], || {
        x.permute(&[0, 5])
    });
    a.refuses("Var::transpose(0, -3)", &["transpose", "-3"], || {
        x.transpose(0, -3)
    });
    a.refuses("Var::squeeze(2)", &["squeeze", "2"], || x.squeeze(2));
    a.refuses("Var::unsqueeze(-4)", &["unsqueeze", "-4"], || {
        x.unsqueeze(-4)
    });
    a.refuses("Var::narrow(1, 1, 3)", &["narrow", "1", "3"], || {
        x.narrow(1, 1, 3)
    });
    a.refuses(
        "Var::broadcast_to([3, 3])",
        &["broadcast_to", "[3, 3]"],
        || x.broadcast_to(&[3, 3]),
    );
    a.refuses("Var::cat of nothing", &["cat"], || Var::<f32>::cat(&[], 0));
    a.refuses(
        "Var::cat [2, 3] with [4]",
        &["cat", "[4]", "[2, 3]"],
        || Var::cat(&[&x, &c], 0),
    );
    a.refuses("Var::stack of nothing", &["stack"], || {
        Var::<f32>::stack(&[], 0)
    });
    a.refuses("Var::stack on dim 4", &["stack", "4"], || {
        Var::stack(&[&x, &x], 4)
    });
    a.refuses("Var::sum over [0, 0]", &["sum", "[0, 0]"], || {
        x.sum(&[0, 0], false)
    });
    a.refuses("Var::sum over dim 2", &["sum", "2"], || x.sum(&[2], false));
    a.refuses("Var::mean over dim -3", &["mean", "-3"], || {
        x.mean(&[-3], false)
    });
    a.refuses("Var::amax over dim 3", &["amax", "3"], || {
        x.amax(&[3], false)
    });
    a.refuses("Var::max(dim) over dim 2", &["max", "2"], || {
        x.max(2, false)
    });
    a.refuses("Var::var over dim 2", &["var", "2"], || {
        x.var(&[2], 1.0, true)
    });
    a.refuses("Var::gather: index 3 of 3", &["gather", "3"], || {
        x.gather(1, &Indices::from_vec(vec![3, 0], &[2, 1]).unwrap())
    });
    a.refuses("Var::index_select: dim 2", &["index_select", "2"], || {
        x.index_select(2, &Indices::from_classes(&[0]))
    });
    a.refuses("Var::log_softmax(2)", &["log_softmax", "2"], || {
        x.log_softmax(2)
    });
    a.refuses("Var::softmax(-3)", &["softmax", "-3"], || x.softmax(-3));
    a.holds("Var::log_softmax over an empty dim is empty", || {
        let y = Var::new(z(&[2, 0]))
            .log_softmax(1)
            .map_err(|e| e.to_string())?;
        ensure(y.shape() == [2, 0], || format!("got {:?}", y.shape()))
    });
    a.refuses(
        "Var::conv2d: channel mismatch",
        &["conv2d", "3 channels", "expects 1"],
        || {
            Var::new(z(&[1, 3, 5, 5])).conv2d(
                &Var::parameter(z(&[2, 1, 3, 3])),
                None,
                &Conv2dParams::default(),
            )
        },
    );
    a.refuses(
        "Var::max_pool2d: 2-D input",
        &["max_pool2d", "[2, 3]"],
        || x.max_pool2d(&Pool2dParams::new([2, 2])),
    );
    a.refuses(
        "Var::avg_pool2d: kernel 0",
        &["avg_pool2d", "kernel_size"],
        || Var::new(z(&[1, 1, 4, 4])).avg_pool2d(&Pool2dParams::new([0, 0])),
    );
    a.refuses("Var::item of [2, 3]", &["item", "[2, 3]"], || x.item());
    a.refuses(
        "Var::neg under detect_anomaly of NaN",
        &["detect_anomaly", "neg"],
        || detect_anomaly(|| Var::new(t(&[f32::NAN], &[1])).neg()),
    );
    a.refuses(
        "Var::log of 0 under detect_anomaly",
        &["detect_anomaly", "log"],
        || detect_anomaly(|| Var::parameter(t(&[0.0], &[1])).log()),
    );
    a.finish();
}

#[test]
fn var_backward_and_leaf_misuse_is_refused() {
    let mut a = Audit::new("Var::backward and leaves");
    let w = Var::parameter(t(&[1.0, 2.0], &[2]));
    a.refuses(
        "backward of a [2] result",
        &["backward", "[2]", "backward_with"],
        || w.mul_scalar(2.0)?.backward(),
    );
    a.refuses(
        "backward of a constant",
        &["backward", "does not require a gradient"],
        || Var::new(t(&[1.0], &[1])).sum_all()?.backward(),
    );
    a.refuses("backward under no_grad", &["backward", "no_grad"], || {
        no_grad(|| w.sum_all())?.backward()
    });
    a.refuses(
        "backward twice",
        &["backward", "already freed", "sum"],
        || {
            let y = w.mul(&w)?.sum_all()?;
            y.backward()?;
            y.backward()
        },
    );
    a.refuses(
        "backward_with of the wrong shape",
        &["backward", "[3]", "[2]"],
        || w.mul_scalar(2.0)?.backward_with(&z(&[3])),
    );
    a.refuses(
        "backward_with of an empty grad",
        &["backward", "[0]", "[2]"],
        || w.mul_scalar(2.0)?.backward_with(&z(&[0])),
    );
    a.refuses(
        "set_value of the wrong shape",
        &["set_value", "[2]", "[3]"],
        || w.set_value(z(&[3])),
    );
    a.refuses(
        "set_value of a 0-D value on [2]",
        &["set_value", "[2]", "[]"],
        || w.set_value(Tensor::scalar(1.0)),
    );
    a.refuses(
        "set_value of a non-leaf",
        &["set_value", "mul_scalar"],
        || w.mul_scalar(2.0)?.set_value(z(&[2])),
    );
    a.refuses(
        "set_grad of the wrong shape",
        &["set_grad", "[2]", "[2, 1]"],
        || w.set_grad(Some(z(&[2, 1]))),
    );
    a.refuses(
        "a custom op whose backward returns a gradient of the wrong shape",
        &["backward", "'bad_shape'", "[3]", "[2]"],
        || {
            let y = Var::from_op("bad_shape", z(&[]), &[&w], |_, grads| {
                grads.set(0, || Ok(z(&[3])))
            })?;
            y.backward()
        },
    );
    a.refuses(
        "anomaly: a backward that produces NaN names the op",
        &["detect_anomaly", "sqrt"],
        || {
            detect_anomaly(|| {
                Var::parameter(t(&[0.0], &[1]))
                    .sqrt()?
                    .sum_all()?
                    .backward()
            })
        },
    );
    a.finish();
}

#[test]
fn gradcheck_refuses_misuse() {
    let mut a = Audit::new("gradcheck");
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let square = |v: &[Var<f64>]| v[0].mul(&v[0]);
    a.refuses(
        "a closure that wants 2 inputs, given 1 (closure checks its slice)",
        &["gradcheck", "expected 2 inputs, found 1"],
        || {
            ferrite::autograd::gradcheck(
                |v: &[Var<f64>]| {
                    if v.len() != 2 {
                        return Err(TensorError::invalid(
                            "my_op",
                            format!("expected 2 inputs, found {}", v.len()),
                        ));
                    }
                    v[0].mul(&v[1])
                },
                std::slice::from_ref(&x),
                &GradcheckOptions::default(),
            )
        },
    );
    a.refuses(
        "a wrong backward is reported",
        &[
            "gradcheck",
            "'wrong_square'",
            "x",
            "analytical",
            "numerical",
        ],
        || {
            gradcheck(
                |v: &[Var<f64>]| {
                    let x = v[0].value();
                    Var::from_op("wrong_square", x.mul(&x)?, &[&v[0]], move |g, grads| {
                        grads.set(0, || g.mul(&x))
                    })
                },
                std::slice::from_ref(&x),
                &GradcheckOptions::default().with_input_names(&["x"]),
            )
        },
    );
    a.refuses(
        "a closure whose op fails",
        &["gradcheck", "add", "[2]", "[3]"],
        || {
            gradcheck(
                |v: &[Var<f64>]| v[0].add(&v[1]),
                &[x.clone(), Tensor::zeros(&[3])],
                &GradcheckOptions::default(),
            )
        },
    );
    a.refuses(
        "no inputs at all: nothing is checked",
        &["gradcheck"],
        || {
            gradcheck(
                |_: &[Var<f64>]| Ok(Var::new(Tensor::scalar(1.0))),
                &[],
                &GradcheckOptions::default(),
            )
        },
    );
    for (case, options) in [
        ("eps 0", GradcheckOptions::default().with_eps(0.0)),
        ("eps NaN", GradcheckOptions::default().with_eps(f64::NAN)),
        (
            "negative atol",
            GradcheckOptions::default().with_tolerances(-1.0, 1e-3),
        ),
    ] {
        a.holds(
            &format!("gradcheck with {case} is refused as a bad option"),
            || match gradcheck(square, std::slice::from_ref(&x), &options) {
                Err(GradcheckError::Op(_)) => Ok(()),
                Err(e @ GradcheckError::Mismatch { .. }) => Err(format!(
                    "reported a wrong backward of a correct op instead of refusing the option: {e}"
                )),
                Ok(r) => Err(format!("accepted: {r:?}")),
            },
        );
    }
    // A closure whose output shape differs between calls (here: with and without gradient
    // recording): gradcheck must report it, not index past the end.
    a.refuses(
        "a closure whose output shape changes",
        &["gradcheck"],
        || {
            gradcheck(
                |v: &[Var<f64>]| {
                    if is_grad_enabled() {
                        v[0].mul_scalar(1.0)
                    } else {
                        v[0].narrow(0, 0, 1)
                    }
                },
                std::slice::from_ref(&x),
                &GradcheckOptions::default(),
            )
        },
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// ferrite-nn: layers, init, models, summary

#[test]
fn layers_refuse_bad_configs_and_inputs() {
    let mut a = Audit::new("layers");
    let mut rng = seeded_rng(0);
    let x4 = Var::new(z(&[1, 2, 4, 4]));
    a.refuses(
        "Linear::from_config(0, 4)",
        &["Linear", "in_features 0"],
        || Linear::<f32>::from_config(LinearConfig::new(0, 4), &mut rng),
    );
    a.refuses(
        "Linear::from_config(4, 0)",
        &["Linear", "out_features 0"],
        || Linear::<f32>::from_config(LinearConfig::new(4, 0).with_bias(false), &mut rng),
    );
    a.refuses(
        "Linear::from_config(2^62, 4): 2^64 weights",
        &["Linear", "4611686018427387904"],
        || Linear::<f32>::from_config(LinearConfig::new(1 << 62, 4), &mut rng),
    );
    a.refuses(
        "Linear::new(0, 3) forward",
        &["Linear", "in_features 0", "out_features 3"],
        || Linear::<f32>::new(0, 3).forward(&Var::new(z(&[2, 0]))),
    );
    a.refuses(
        "Linear::new(2^62, 4).with_bias(false) forward",
        &["Linear", "4611686018427387904"],
        || Linear::<f32>::new(1 << 62, 4).with_bias(false).forward(&x4),
    );
    let fc = Linear::<f32>::new(3, 2);
    a.refuses(
        "Linear forward: 4 features into Linear(3, 2)",
        &["linear", "4 features", "expects 3", "[5, 4]", "[2, 3]"],
        || fc.forward(&Var::new(z(&[5, 4]))),
    );
    a.refuses("Linear forward: 0-D input", &["linear", "[]"], || {
        fc.forward(&Var::new(Tensor::scalar(1.0)))
    });

    a.refuses(
        "Conv2d::from_config: 0 in_channels",
        &["Conv2d", "in_channels 0"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(0, 4, 3), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: kernel 0",
        &["Conv2d", "kernel_size [0, 0]"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(1, 4, 0), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: groups 0",
        &["Conv2d", "groups 0"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(2, 4, 3).with_groups(0), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: groups 3 for 2 -> 4",
        &["Conv2d", "groups 3", "in_channels 2"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(2, 4, 3).with_groups(3), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: in_channels 2^62 (2^64 weights)",
        &["Conv2d", "4611686018427387904"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(1 << 62, 4, 1), &mut rng),
    );
    a.refuses(
        "Conv2d::new(0, 4, 3) forward",
        &["Conv2d", "in_channels 0"],
        || Conv2d::<f32>::new(0, 4, 3).forward(&x4),
    );
    a.refuses(
        "Conv2d::new(1, 4, 0) forward",
        &["Conv2d", "kernel_size [0, 0]"],
        || Conv2d::<f32>::new(1, 4, 0).forward(&x4),
    );
    a.refuses(
        "Conv2d::new(2, 4, 3).with_groups(0) forward",
        &["Conv2d", "groups 0"],
        || Conv2d::<f32>::new(2, 4, 3).with_groups(0).forward(&x4),
    );
    a.refuses(
        "Conv2d::new(2, 4, 3).with_groups(3) forward (bias asked back too)",
        &["Conv2d", "groups 3", "in_channels 2", "out_channels 4"],
        || {
            let conv = Conv2d::<f32>::new(2, 4, 3).with_groups(3);
            conv.with_bias(false).with_bias(true).forward(&x4)
        },
    );
    a.refuses(
        "Conv2d::new(2^62, 4, 1) forward (2^64 weights)",
        &["Conv2d", "4611686018427387904"],
        || {
            Conv2d::<f32>::new(1 << 62, 4, 1)
                .with_kernel_size(1)
                .forward(&x4)
        },
    );
    let conv = Conv2d::<f32>::new(1, 4, 3);
    a.refuses(
        "Conv2d forward: 3 channels into Conv2d(1, 4)",
        &["conv2d", "3 channels", "expects 1"],
        || conv.forward(&Var::new(z(&[2, 3, 8, 8]))),
    );
    a.refuses(
        "Conv2d forward: image smaller than the kernel",
        &["conv2d", "[3, 3]", "[2, 2]"],
        || conv.forward(&Var::new(z(&[1, 1, 2, 2]))),
    );
    a.refuses(
        "Conv2d forward: stride 0",
        &["conv2d", "stride", "[0, 0]"],
        || {
            Conv2d::<f32>::new(1, 1, 1)
                .with_stride(0)
                .forward(&Var::new(z(&[1, 1, 4, 4])))
        },
    );
    a.refuses(
        "MaxPool2d: kernel 0",
        &["max_pool2d", "kernel_size"],
        || Module::<f32>::forward(&MaxPool2d::new(0), &Var::new(z(&[1, 1, 4, 4]))),
    );
    a.refuses("MaxPool2d: 2-D input", &["max_pool2d", "[4, 4]"], || {
        Module::<f32>::forward(&MaxPool2d::new(2), &Var::new(z(&[4, 4])))
    });
    a.refuses(
        "AvgPool2d: padding 2 for kernel 2",
        &["avg_pool2d", "pad"],
        || {
            Module::<f32>::forward(
                &AvgPool2d::new(2).with_padding(2),
                &Var::new(z(&[1, 1, 4, 4])),
            )
        },
    );
    a.refuses("Flatten(2, 5) of 2-D", &["flatten", "2"], || {
        Module::<f32>::forward(
            &Flatten::new().with_start_dim(2).with_end_dim(5),
            &Var::new(z(&[2, 3])),
        )
    });

    a.refuses("Dropout::new(1.5) forward", &["Dropout", "1.5"], || {
        Dropout::<f32>::new(1.5).forward(&x4)
    });
    a.refuses("Dropout::new(-0.1) forward", &["Dropout", "-0.1"], || {
        Dropout::<f32>::new(-0.1).with_seed(0).forward(&x4)
    });
    a.refuses(
        "Dropout::new(NaN) forward (eval)",
        &["Dropout", "NaN"],
        || {
            let drop = Dropout::<f32>::new(f64::NAN);
            drop.eval();
            drop.forward(&x4)
        },
    );
    a.refuses("Dropout2d::new(1.5) forward", &["Dropout2d", "1.5"], || {
        Dropout2d::<f32>::new(1.5).forward(&x4)
    });
    a.refuses(
        "Dropout2d of a 1-D input",
        &["dropout2d", "2 dims", "[4]"],
        || Dropout2d::<f32>::new(0.5).forward(&Var::new(z(&[4]))),
    );

    a.refuses(
        "BatchNorm2d::from_config: 0 features",
        &["BatchNorm2d", "num_features", "0"],
        || BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(0)),
    );
    a.refuses(
        "BatchNorm2d::from_config: eps -1",
        &["BatchNorm2d", "eps", "-1"],
        || BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(2).with_eps(-1.0)),
    );
    a.refuses(
        "BatchNorm2d::new(0) forward",
        &["BatchNorm2d", "num_features", "0"],
        || BatchNorm2d::<f32>::new(0).forward(&x4),
    );
    a.refuses(
        "BatchNorm2d::new(2).with_eps(-1) forward",
        &["BatchNorm2d", "eps", "-1"],
        || BatchNorm2d::<f32>::new(2).with_eps(-1.0).forward(&x4),
    );
    let bn = BatchNorm2d::<f32>::new(2);
    a.refuses(
        "BatchNorm2d forward: 3 channels into BatchNorm2d(2)",
        &["batch_norm2d", "3 channels", "expects 2"],
        || bn.forward(&Var::new(z(&[4, 3, 2, 2]))),
    );
    a.refuses(
        "BatchNorm2d forward: 2-D input",
        &["batch_norm2d", "4-D", "[4, 2]"],
        || bn.forward(&Var::new(z(&[4, 2]))),
    );
    a.refuses(
        "BatchNorm2d forward (training): one value per channel",
        &[
            "batch_norm",
            "more than 1 value per channel",
            "[1, 2, 1, 1]",
        ],
        || bn.forward(&Var::new(z(&[1, 2, 1, 1]))),
    );
    a.holds("BatchNorm2d<f32> counts one more batch after 2^24", || {
        let bn = BatchNorm2d::<f32>::new(1);
        let mut sd = state_dict(&bn);
        sd.insert("num_batches_tracked", Tensor::scalar(16_777_216.0));
        load_state_dict(&bn, &sd, Strict::Yes).map_err(|e| e.to_string())?;
        bn.forward(&Var::new(t(&[0.0, 1.0], &[2, 1, 1, 1])))
            .map_err(|e| e.to_string())?;
        let n = bn.num_batches_tracked();
        ensure(n == Some(16_777_217), || {
            format!(
                "num_batches_tracked is {n:?} after one more batch (an f32 counter stops at 2^24)"
            )
        })
    });
    let x = Var::new(t(&[0.0, 1.0], &[2, 1, 1, 1]));
    let stats = || (Var::new(z(&[1])), Var::new(Tensor::<f32>::ones(&[1])));
    a.refuses(
        "batch_norm2d: running_mean without running_var",
        &["batch_norm", "running_mean and running_var"],
        || {
            let (m, _) = stats();
            batch_norm2d(
                &x,
                Some(&m),
                None,
                None,
                None,
                &BatchNormOptions::new().with_training(true),
            )
        },
    );
    a.refuses(
        "batch_norm2d: a running statistic that is not a leaf",
        &["set_value", "add_scalar"],
        || {
            let m = Var::parameter(z(&[1])).add_scalar(0.0)?;
            let v = Var::new(Tensor::<f32>::ones(&[1]));
            batch_norm2d(
                &x,
                Some(&m),
                Some(&v),
                None,
                None,
                &BatchNormOptions::new().with_training(true),
            )
        },
    );
    a.refuses(
        "batch_norm2d: evaluation without running stats",
        &["batch_norm", "evaluation"],
        || batch_norm2d(&x, None, None, None, None, &BatchNormOptions::new()),
    );
    a.refuses(
        "batch_norm2d: weight [2] for 1 channel",
        &["batch_norm", "weight", "[2]", "1 channels"],
        || {
            batch_norm2d(
                &x,
                None,
                None,
                Some(&Var::parameter(z(&[2]))),
                None,
                &BatchNormOptions::new().with_training(true),
            )
        },
    );
    a.refuses("batch_norm2d: eps -1", &["batch_norm", "eps", "-1"], || {
        batch_norm2d(
            &x,
            None,
            None,
            None,
            None,
            &BatchNormOptions::new().with_training(true).with_eps(-1.0),
        )
        .map(|y| y.value().to_vec())
    });
    a.finish();
}

#[test]
fn init_refuses_bad_shapes() {
    let mut a = Audit::new("init");
    let mut rng = seeded_rng(0);
    use init::{FanMode, Nonlinearity};
    a.refuses(
        "fan_in_and_fan_out of a 1-D shape",
        &["init", "2 dims", "[3]"],
        || init::fan_in_and_fan_out(&[3]),
    );
    a.refuses(
        "kaiming_uniform of [4, 0]",
        &["init", "zero fan", "[4, 0]"],
        || init::kaiming_uniform::<f32>(&[4, 0], FanMode::FanIn, Nonlinearity::Relu, &mut rng),
    );
    a.refuses(
        "kaiming_normal of [0, 4] fan out",
        &["init", "zero fan", "[0, 4]"],
        || init::kaiming_normal::<f32>(&[0, 4], FanMode::FanOut, Nonlinearity::Relu, &mut rng),
    );
    a.refuses(
        "xavier_uniform of [0, 0]",
        &["init", "zero fans", "[0, 0]"],
        || init::xavier_uniform::<f32>(&[0, 0], 1.0, &mut rng),
    );
    a.refuses("xavier_normal of [5]", &["init", "[5]"], || {
        init::xavier_normal::<f32>(&[5], 1.0, &mut rng)
    });
    a.refuses(
        "kaiming_uniform of [2, 3 * 2^62]: fan and element count overflow",
        &["init", "13835058055282163712"],
        || {
            init::kaiming_uniform::<f32>(
                &[2, 3 << 62],
                FanMode::FanIn,
                Nonlinearity::Relu,
                &mut rng,
            )
        },
    );
    a.refuses(
        "kaiming_uniform of [1, 2^62, 4]: fan_in 2^64 wraps to 0",
        &["init", "4611686018427387904", "overflow"],
        || {
            init::kaiming_uniform::<f32>(
                &[1, 1 << 62, 4],
                FanMode::FanIn,
                Nonlinearity::Relu,
                &mut rng,
            )
        },
    );
    a.refuses("default_weight_and_bias of [3]", &["init", "[3]"], || {
        init::default_weight_and_bias::<f32>(&[3], &mut rng)
    });
    a.finish();
}

#[test]
fn models_and_summary_refuse_bad_sizes() {
    let mut a = Audit::new("small_cnn and summary");
    a.refuses("small_cnn 3x3", &["small_cnn", "3x3"], || {
        small_cnn::<f32>([3, 3])
    });
    a.refuses("small_cnn 28x2", &["small_cnn", "28x2"], || {
        small_cnn::<f32>([28, 2])
    });
    a.refuses("small_cnn 0x0", &["small_cnn", "0x0"], || {
        small_cnn::<f32>([0, 0])
    });
    a.refuses(
        "small_cnn 2^32 x 2^32 (fc1 in_features 32 * 2^60 overflows)",
        &["small_cnn", "4294967296"],
        || small_cnn::<f32>([1 << 32, 1 << 32]),
    );
    a.refuses(
        "small_cnn usize::MAX x usize::MAX",
        &["small_cnn", "18446744073709551615"],
        || small_cnn::<f32>([usize::MAX, usize::MAX]).map(|m| m.num_parameters()),
    );
    let model = small_cnn::<f32>([28, 28]).unwrap();
    a.refuses(
        "summary of small_cnn with 3 channels",
        &["conv2d", "3 channels", "expects 1"],
        || summary(&model, &[1, 3, 28, 28]),
    );
    a.refuses(
        "summary of small_cnn(28x28) with 32x32 images (fc1 mismatch)",
        &["linear", "2048", "1568"],
        || summary(&model, &[1, 1, 32, 32]),
    );
    a.refuses(
        "summary of small_cnn with a 2-D input",
        &["conv2d", "4-D", "[28, 28]"],
        || summary(&model, &[28, 28]),
    );
    a.holds(
        "summary leaves a BatchNorm2d's running statistics alone",
        || {
            let bn = Sequential::<f32>::new().add_module("bn", BatchNorm2d::new(2));
            let before = state_dict(&bn);
            summary(&bn, &[2, 2, 4, 4]).map_err(|e| e.to_string())?;
            let after = state_dict(&bn);
            let changed: Vec<String> = before
                .iter()
                .filter(|(n, t)| after.get(n) != Some(*t))
                .map(|(n, t)| {
                    format!(
                        "{n}: {:?} -> {:?}",
                        t.to_vec(),
                        after.get(n).map(|a| a.to_vec())
                    )
                })
                .collect();
            ensure(changed.is_empty(), || {
                format!("summary changed the model's buffers: {changed:?}")
            })
        },
    );
    a.refuses(
        "summary with input shape [usize::MAX/2, 4]",
        &["summary", "9223372036854775807, 4"],
        || summary(&model, &[HUGE, 4]),
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// ferrite-nn: losses, optimizers, schedulers

#[test]
fn losses_refuse_bad_targets() {
    let mut a = Audit::new("losses");
    let logits = Var::parameter(z(&[2, 3]));
    let o = CrossEntropyOptions::default();
    a.refuses(
        "cross_entropy: target 3 with 3 classes",
        &["cross_entropy", "target 3", "3 classes", "0 to 2"],
        || cross_entropy(&logits, &Indices::from_classes(&[0, 3]), &o),
    );
    a.refuses(
        "cross_entropy: target i64::MAX",
        &["cross_entropy", "9223372036854775807"],
        || cross_entropy(&logits, &Indices::from_vec(vec![i64::MAX, 0], &[2])?, &o),
    );
    a.refuses(
        "cross_entropy: 3 targets for 2 samples",
        &["cross_entropy", "shape [2]", "found [3]"],
        || cross_entropy(&logits, &Indices::from_classes(&[0, 1, 2]), &o),
    );
    a.refuses(
        "cross_entropy: no target for 2 samples",
        &["cross_entropy", "shape [2]", "found [0]"],
        || cross_entropy(&logits, &Indices::from_classes(&[]), &o),
    );
    a.refuses(
        "cross_entropy: 3-D input with [N] targets",
        &["cross_entropy", "[2, 4]", "[2, 3, 4]"],
        || {
            cross_entropy(
                &Var::new(z(&[2, 3, 4])),
                &Indices::from_classes(&[0, 0]),
                &o,
            )
        },
    );
    a.refuses("cross_entropy: 0-D input", &["cross_entropy", "[]"], || {
        cross_entropy(&Var::new(Tensor::scalar(1.0)), &Indices::scalar(0), &o)
    });
    a.refuses(
        "cross_entropy: zero classes",
        &["cross_entropy", "0 classes"],
        || cross_entropy(&Var::new(z(&[2, 0])), &Indices::from_classes(&[0, 0]), &o),
    );
    a.refuses(
        "cross_entropy: label_smoothing 1.5",
        &["cross_entropy", "label_smoothing", "1.5"],
        || {
            cross_entropy(
                &logits,
                &Indices::from_classes(&[0, 1]),
                &o.clone().with_label_smoothing(1.5),
            )
        },
    );
    a.refuses(
        "cross_entropy: label_smoothing NaN",
        &["cross_entropy", "label_smoothing", "NaN"],
        || {
            cross_entropy(
                &logits,
                &Indices::from_classes(&[0, 1]),
                &o.clone().with_label_smoothing(f64::NAN),
            )
        },
    );
    a.refuses(
        "nll_loss: target 5 with 3 classes",
        &["nll_loss", "target 5", "3 classes"],
        || nll_loss(&logits, &Indices::from_classes(&[5, 0]), Reduction::Mean),
    );
    a.refuses(
        "nll_loss: 1 target for 2 samples",
        &["nll_loss", "shape [2]", "found [1]"],
        || nll_loss(&logits, &Indices::from_classes(&[0]), Reduction::Sum),
    );
    a.refuses(
        "mse_loss: [2, 3] vs [3]",
        &["mse_loss", "[2, 3]", "[3]"],
        || mse_loss(&logits, &Var::new(z(&[3])), Reduction::Mean),
    );
    a.refuses(
        "mse_loss: [2, 3] vs [3, 2]",
        &["mse_loss", "[2, 3]", "[3, 2]"],
        || mse_loss(&logits, &Var::new(z(&[3, 2])), Reduction::None),
    );
    a.finish();
}

fn param(values: &[f32]) -> Var {
    Var::parameter(t(values, &[values.len()]))
}

#[test]
fn optimizers_refuse_bad_hyper_parameters() {
    let mut a = Audit::new("optimizers");
    let w = param(&[1.0, 2.0]);
    let ps = || vec![w.clone()];
    a.refuses("Sgd: lr -1", &["SGD", "learning rate", "-1"], || {
        Sgd::new(ps(), SgdConfig::new(-1.0))
    });
    a.refuses("Sgd: lr NaN", &["SGD", "learning rate", "NaN"], || {
        Sgd::new(ps(), SgdConfig::new(f64::NAN))
    });
    a.refuses("Sgd: lr inf", &["SGD", "learning rate", "inf"], || {
        Sgd::new(ps(), SgdConfig::new(f64::INFINITY))
    });
    a.refuses("Sgd: momentum -0.5", &["SGD", "momentum", "-0.5"], || {
        Sgd::new(ps(), SgdConfig::new(0.1).with_momentum(-0.5))
    });
    a.refuses(
        "Sgd: weight_decay -1",
        &["SGD", "weight_decay", "-1"],
        || Sgd::new(ps(), SgdConfig::new(0.1).with_weight_decay(-1.0)),
    );
    a.refuses("Sgd: dampening inf", &["SGD", "dampening", "inf"], || {
        Sgd::new(
            ps(),
            SgdConfig::new(0.1)
                .with_momentum(0.9)
                .with_dampening(f64::INFINITY),
        )
    });
    a.refuses(
        "Sgd: nesterov without momentum",
        &["SGD", "Nesterov", "momentum 0"],
        || Sgd::new(ps(), SgdConfig::new(0.1).with_nesterov(true)),
    );
    a.refuses(
        "Sgd: no parameters",
        &["SGD", "empty parameter list"],
        || Sgd::<f32>::new(vec![], SgdConfig::new(0.1)),
    );
    a.refuses(
        "Sgd: the same parameter twice",
        &["SGD", "parameter 1", "more than once"],
        || Sgd::new(vec![w.clone(), w.clone()], SgdConfig::new(0.1)),
    );
    a.refuses(
        "Sgd: a non-leaf",
        &["SGD", "non-leaf", "mul_scalar"],
        || Sgd::new(vec![w.mul_scalar(2.0).unwrap()], SgdConfig::new(0.1)),
    );
    a.refuses(
        "Sgd::set_lr(-0.1)",
        &["SGD", "learning rate", "-0.1"],
        || Sgd::new(ps(), SgdConfig::new(0.1))?.set_lr(-0.1),
    );
    a.refuses("Adam: beta1 1.0", &["Adam", "beta", "index 0", "1"], || {
        Adam::new(ps(), AdamConfig::new(0.1).with_betas(1.0, 0.999))
    });
    a.refuses(
        "Adam: beta2 -0.1",
        &["Adam", "beta", "index 1", "-0.1"],
        || Adam::new(ps(), AdamConfig::new(0.1).with_betas(0.9, -0.1)),
    );
    a.refuses(
        "Adam: eps -1e-8",
        &["Adam", "epsilon", "-0.00000001"],
        || Adam::new(ps(), AdamConfig::new(0.1).with_eps(-1e-8)),
    );
    a.refuses("Adam: lr NaN", &["Adam", "learning rate", "NaN"], || {
        Adam::new(ps(), AdamConfig::new(f64::NAN))
    });
    a.refuses(
        "Adam: weight_decay NaN",
        &["Adam", "weight_decay", "NaN"],
        || Adam::new(ps(), AdamConfig::new(0.1).with_weight_decay(f64::NAN)),
    );
    a.refuses("AdamW: beta1 NaN", &["AdamW", "beta", "NaN"], || {
        Adam::new(ps(), AdamConfig::adamw(0.1).with_betas(f64::NAN, 0.999))
    });
    a.refuses(
        "AdamW: no parameters",
        &["AdamW", "empty parameter list"],
        || Adam::<f32>::new(vec![], AdamConfig::adamw(0.1)),
    );
    a.refuses(
        "AdamW::set_lr(inf)",
        &["AdamW", "learning rate", "inf"],
        || Adam::new(ps(), AdamConfig::adamw(0.1))?.set_lr(f64::INFINITY),
    );
    a.refuses(
        "clip_grad_norm: max_norm -1",
        &["clip_grad_norm", "max_norm", "-1"],
        || clip_grad_norm(std::slice::from_ref(&w), -1.0),
    );
    a.refuses(
        "clip_grad_norm: max_norm NaN",
        &["clip_grad_norm", "max_norm", "NaN"],
        || clip_grad_norm(std::slice::from_ref(&w), f64::NAN),
    );
    a.refuses(
        "clip_grad_norm: a NaN gradient",
        &["clip_grad_norm", "parameter 0", "non-finite"],
        || {
            let p = param(&[1.0]);
            p.set_grad(Some(t(&[f32::NAN], &[1])))?;
            clip_grad_norm(&[p], 1.0)
        },
    );

    a.refuses("RMSprop: alpha -0.5", &["RMSprop", "alpha", "-0.5"], || {
        RMSprop::new(ps(), RMSpropConfig::new(0.01).with_alpha(-0.5))
    });
    a.refuses("RMSprop: eps NaN", &["RMSprop", "epsilon", "NaN"], || {
        RMSprop::new(ps(), RMSpropConfig::new(0.01).with_eps(f64::NAN))
    });
    a.refuses(
        "Adagrad: lr_decay -0.1",
        &["Adagrad", "lr_decay", "-0.1"],
        || Adagrad::new(ps(), AdagradConfig::new(0.01).with_lr_decay(-0.1)),
    );
    a.refuses(
        "Adagrad: initial_accumulator_value -1",
        &["Adagrad", "initial_accumulator_value", "-1"],
        || {
            Adagrad::new(
                ps(),
                AdagradConfig::new(0.01).with_initial_accumulator_value(-1.0),
            )
        },
    );
    a.refuses(
        "SGD group with Adam's beta1",
        &[
            "SGD",
            "parameter group 0",
            "unknown hyper-parameter 'beta1'",
        ],
        || {
            Sgd::with_groups(
                vec![ParamGroup::new(ps()).with_option("beta1", 0.9)],
                SgdConfig::new(0.1),
            )
        },
    );
    a.refuses(
        "set_lrs with too few rates",
        &["SGD", "1 learning rates for 2 parameter groups"],
        || {
            let two = vec![
                ParamGroup::new(vec![param(&[1.0])]),
                ParamGroup::new(vec![param(&[2.0])]),
            ];
            Sgd::with_groups(two, SgdConfig::new(0.1))?.set_lrs(&[0.1])
        },
    );

    let mut sgd = Sgd::new(ps(), SgdConfig::new(0.1)).unwrap();
    a.refuses(
        "StepLR: step_size 0, at the first step",
        &["StepLR", "step_size"],
        || StepLR::new(&mut sgd, 0, 0.1)?.step(&mut sgd),
    );
    a.refuses("StepLR: gamma -0.1", &["StepLR", "gamma", "-0.1"], || {
        StepLR::new(&mut sgd, 1, -0.1)
    });
    a.refuses("StepLR: gamma NaN", &["StepLR", "gamma", "NaN"], || {
        StepLR::new(&mut sgd, 1, f64::NAN)
    });
    a.refuses(
        "CosineAnnealingLR: T_max 0, at the first step",
        &["CosineAnnealingLR", "T_max"],
        || CosineAnnealingLR::new(&mut sgd, 0, 0.0)?.step(&mut sgd),
    );
    a.refuses(
        "CosineAnnealingLR: eta_min -1",
        &["CosineAnnealingLR", "eta_min", "-1"],
        || CosineAnnealingLR::new(&mut sgd, 10, -1.0),
    );
    a.refuses(
        "CosineAnnealingWarmRestarts: T_0 0",
        &["CosineAnnealingWarmRestarts", "T_0"],
        || CosineAnnealingWarmRestarts::new(&mut sgd, 0, 1, 0.0),
    );
    a.refuses(
        "LinearLR: start_factor 0",
        &["LinearLR", "Starting"],
        || LinearLR::new(&mut sgd, 0.0, 1.0, 4),
    );
    a.refuses(
        "OneCycleLR: stepping past total_steps",
        &["OneCycleLR", "Tried to step 3 times"],
        || {
            let mut s = OneCycleLR::new(&mut sgd, OneCycleConfig::new(0.1, 2))?;
            (0..3).try_for_each(|_| s.step(&mut sgd))
        },
    );
    a.refuses(
        "OneCycleLR: a first phase of zero length",
        &["OneCycleLR", "zero length"],
        || {
            let config = OneCycleConfig {
                pct_start: 0.1,
                ..OneCycleConfig::new(0.1, 10)
            };
            OneCycleLR::new(&mut sgd, config)
        },
    );
    a.refuses(
        "OneCycleLR: momentum of Adagrad",
        &["OneCycleLR", "momentum or beta1"],
        || {
            let mut ada = Adagrad::new(ps(), AdagradConfig::new(0.1))?;
            OneCycleLR::new(&mut ada, OneCycleConfig::new(0.1, 10))
        },
    );
    a.refuses(
        "ReduceLROnPlateau: factor 1",
        &["ReduceLROnPlateau", "Factor should be < 1.0"],
        || {
            ReduceLROnPlateau::new(
                &sgd,
                ReduceLROnPlateauConfig {
                    factor: 1.0,
                    ..Default::default()
                },
            )
        },
    );
    a.refuses(
        "SequentialLR: two milestones for two schedulers",
        &[
            "SequentialLR",
            "one more than the number of milestone points",
        ],
        || {
            let first = StepLR::new(&mut sgd, 2, 0.5)?.into();
            let second = StepLR::new(&mut sgd, 2, 0.5)?.into();
            SequentialLR::new(&mut sgd, vec![first, second], &[2, 4])
        },
    );
    a.refuses(
        "StepLR from JSON with step_size 0, at the first step",
        &["StepLR", "step_size"],
        || {
            serde_json::from_str::<StepLR>(
                r#"{"step_size":0,"gamma":0.5,"base_lrs":[0.1],"last_epoch":0}"#,
            )
            .map_err(|e| e.to_string())?
            .step(&mut sgd)
            .map_err(|e| e.to_string())
        },
    );
    a.refuses(
        "CosineAnnealingLR from JSON with base_lr -1, at the first step",
        &["SGD", "Invalid learning rate", "-0.97"],
        || {
            serde_json::from_str::<CosineAnnealingLR>(
                r#"{"t_max":10,"eta_min":0.0,"base_lrs":[-1.0],"last_epoch":0}"#,
            )
            .map_err(|e| e.to_string())?
            .step(&mut sgd)
            .map_err(|e| e.to_string())
        },
    );
    a.holds("StepLR restored at last_epoch u64::MAX: step must not wrap to epoch 0", || {
        let Ok(mut s) = serde_json::from_str::<StepLR>(
            r#"{"step_size":1,"gamma":0.5,"base_lrs":[0.1],"last_epoch":18446744073709551615}"#,
        ) else {
            return Ok(()); // refused on load: fine
        };
        let mut opt = Sgd::new(ps(), SgdConfig::new(0.1)).unwrap();
        match s.step(&mut opt) {
            Err(_) => Ok(()),
            Ok(()) => ensure(s.last_epoch() != 0, || {
                format!(
                    "silently wrapped: last_epoch is now {} and the learning rate is back to {}",
                    s.last_epoch(),
                    opt.lr()
                )
            }),
        }
    });
    a.finish();
}

#[test]
fn optimizer_load_state_refuses_foreign_or_corrupt_state() {
    let mut a = Audit::new("Optimizer::load_state");
    let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2]).unwrap());
    let grad = || w.set_grad(Some(Tensor::full(&[2], 0.5))).unwrap();
    let mut adam = Adam::new(vec![w.clone()], AdamConfig::new(0.1)).unwrap();
    grad();
    adam.step().unwrap();
    let state = adam.state();
    let mut sgd = Sgd::new(vec![w.clone()], SgdConfig::new(0.1).with_momentum(0.9)).unwrap();
    grad();
    sgd.step().unwrap();
    let sgd_state = sgd.state();

    a.refuses(
        "Adam state into Sgd",
        &["load_state", "'adam'", "'sgd'"],
        || sgd.load_state(state.clone()),
    );
    a.refuses(
        "Sgd state into Adam",
        &["load_state", "'sgd'", "'adam'"],
        || adam.load_state(sgd_state.clone()),
    );
    a.refuses(
        "state of 2 params into 1",
        &["load_state", "2 parameters", "1"],
        || {
            let mut s = state.clone();
            s.params.push(s.params[0].clone());
            adam.load_state(s)
        },
    );
    a.refuses(
        "buffer of the wrong shape",
        &["load_state", "exp_avg", "[3]", "[2]"],
        || {
            let mut s = state.clone();
            s.params[0].buffers.insert(
                "exp_avg".into(),
                Buffer {
                    shape: vec![3],
                    data: vec![0.0; 3],
                },
            );
            adam.load_state(s)
        },
    );
    a.refuses(
        "buffer data shorter than its shape",
        &["load_state", "exp_avg", "2", "1"],
        || {
            let mut s = state.clone();
            s.params[0].buffers.insert(
                "exp_avg".into(),
                Buffer {
                    shape: vec![2],
                    data: vec![0.0],
                },
            );
            adam.load_state(s)
        },
    );
    a.refuses(
        "unknown buffer",
        &["load_state", "'momentum_buffer'"],
        || {
            let mut s = state.clone();
            let b = s.params[0].buffers["exp_avg"].clone();
            s.params[0].buffers.insert("momentum_buffer".into(), b);
            adam.load_state(s)
        },
    );
    a.refuses(
        "missing buffer",
        &["load_state", "'exp_avg_sq'", "missing"],
        || {
            let mut s = state.clone();
            s.params[0].buffers.remove("exp_avg_sq");
            adam.load_state(s)
        },
    );
    a.refuses(
        "missing hyper-parameter",
        &["load_state", "'beta2'"],
        || {
            let mut s = state.clone();
            s.param_groups[0].hyper_params.remove("beta2");
            adam.load_state(s)
        },
    );
    a.refuses(
        "hyper-parameter out of range (beta1 = 2)",
        &["beta", "2"],
        || {
            let mut s = state.clone();
            s.param_groups[0].hyper_params.insert("beta1".into(), 2.0);
            adam.load_state(s)
        },
    );
    a.refuses("amsgrad = 0.5", &["load_state", "'amsgrad'", "0.5"], || {
        let mut s = state.clone();
        s.param_groups[0].hyper_params.insert("amsgrad".into(), 0.5);
        adam.load_state(s)
    });
    a.refuses(
        "Sgd: step 0 with a momentum buffer",
        &["load_state", "step 0"],
        || {
            let mut s = sgd_state.clone();
            s.params[0].step = 0;
            sgd.load_state(s)
        },
    );
    a.refuses("an empty state", &["load_state", "'adam'"], || {
        adam.load_state(OptimizerState {
            kind: String::new(),
            param_groups: vec![],
            params: vec![],
        })
    });
    a.holds(
        "Adam state at step u64::MAX: the next step must not make the parameter NaN",
        || {
            let p = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2]).unwrap());
            let mut opt = Adam::new(vec![p.clone()], AdamConfig::new(0.1)).unwrap();
            let mut s = state.clone();
            s.params[0].step = u64::MAX;
            if opt.load_state(s).is_err() {
                return Ok(());
            }
            p.set_grad(Some(Tensor::full(&[2], 0.5))).unwrap();
            if opt.step().is_err() {
                return Ok(());
            }
            let v = p.value().to_vec();
            ensure(v.iter().all(|x| x.is_finite()), || {
                format!("load_state and step accepted it and the parameter is now {v:?}")
            })
        },
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// ferrite-nn: state dicts, checkpoints, safetensors

/// A module whose only "parameter" is the result of an op (not assignable).
struct NonLeaf(Var);

impl Module for NonLeaf {
    fn forward(&self, input: &Var) -> Result<Var, TensorError> {
        input.mul(&self.0)
    }
    fn type_name(&self) -> &'static str {
        "NonLeaf"
    }
    fn own_parameters(&self) -> Vec<(String, Var)> {
        vec![("w".to_string(), self.0.clone())]
    }
}

fn two_layer(seed: u64) -> Sequential {
    manual_seed(seed);
    Sequential::new()
        .add_module("fc1", Linear::new(3, 4))
        .add_module("fc2", Linear::new(4, 2))
}

#[test]
fn load_state_dict_refuses_another_model() {
    let mut a = Audit::new("load_state_dict");
    let model = two_layer(0);
    let sd = state_dict(&model);
    manual_seed(1);
    let other = Sequential::<f32>::new()
        .add_module("fc1", Linear::new(3, 5))
        .add_module("fc2", Linear::new(5, 2));
    a.refuses(
        "wrong shapes",
        &["load_state_dict", "fc1.weight", "[5, 3]", "[4, 3]"],
        || load_state_dict(&other, &sd, Strict::Yes),
    );
    a.holds("wrong shapes leave the model untouched", || {
        let before = state_dict(&other);
        let _ = load_state_dict(&other, &sd, Strict::Yes);
        ensure(state_dict(&other) == before, || "partially loaded".into())
    });
    let renamed: StateDict = sd
        .iter()
        .map(|(n, t)| (n.replace("fc", "layer"), t.clone()))
        .collect();
    a.refuses(
        "renamed keys",
        &[
            "load_state_dict",
            "missing keys",
            "fc1.weight",
            "unexpected keys",
            "layer1.weight",
        ],
        || load_state_dict(&model, &renamed, Strict::Yes),
    );
    let mut partial = sd.clone();
    partial.remove("fc2.bias");
    a.refuses("a missing key", &["load_state_dict", "fc2.bias"], || {
        load_state_dict(&model, &partial, Strict::Yes)
    });
    a.refuses(
        "an empty state dict",
        &["load_state_dict", "fc1.weight"],
        || load_state_dict(&model, &StateDict::new(), Strict::Yes),
    );
    a.refuses(
        "Checkpoint::load_into another model names both models",
        &[
            "load_state_dict",
            "saved from",
            "Linear(in_features=3, out_features=4",
            "this model is",
        ],
        || Checkpoint::from_model(&model).load_into(&other, Strict::Yes),
    );
    a.refuses(
        "a model whose parameter is not a leaf",
        &["load_state_dict", "'w'", "mul_scalar", "nothing was loaded"],
        || {
            let model = NonLeaf(Var::parameter(z(&[2])).mul_scalar(2.0).unwrap());
            let mut sd = StateDict::new();
            sd.insert("w", z(&[2]));
            load_state_dict(&model, &sd, Strict::Yes)
        },
    );
    // Sequential names layers by position; `append` after `add_module("1", ..)` reuses "1".
    // As in PyTorch (whose modules are an OrderedDict and whose `append` is
    // `add_module(str(len(self)), module)`), the second layer named "1" replaces the first:
    // the model has one layer, and its state dict holds every one of its parameters.
    manual_seed(2);
    let first = Linear::new(2, 2);
    let second = Linear::new(2, 2);
    let second_weight = second.weight().value();
    let dup = Sequential::<f32>::new()
        .add_module("1", first)
        .append(second);
    a.holds(
        "a model with two layers named '1': the second replaces the first, as in PyTorch",
        || {
            let sd = state_dict(&dup);
            let n = dup.parameters().len();
            ensure(dup.len() == 1 && n == 2 && sd.len() == n, || {
                format!(
                    "{} layers, {n} parameters, state_dict has {} entries (expected 1 layer \
                         with 2 parameters, all in the state dict)",
                    dup.len(),
                    sd.len()
                )
            })?;
            ensure(sd.get("1.weight") == Some(&second_weight), || {
                "layer '1' is not the second layer".into()
            })
        },
    );
    a.holds(
        "a model with two layers named '1': save then load is the identity",
        || {
            let before: Vec<Vec<f32>> = dup
                .parameters()
                .iter()
                .map(|p| p.value().to_vec())
                .collect();
            match load_state_dict(&dup, &state_dict(&dup), Strict::Yes) {
                Err(_) => Ok(()),
                Ok(_) => {
                    let after: Vec<Vec<f32>> = dup
                        .parameters()
                        .iter()
                        .map(|p| p.value().to_vec())
                        .collect();
                    ensure(before == after, || {
                        "load_state_dict(state_dict(model)) silently changed the first layer's \
                     weights to the second's"
                            .into()
                    })
                }
            }
        },
    );
    a.finish();
}

#[test]
fn checkpoint_reader_refuses_garbage() {
    let mut a = Audit::new("Checkpoint::from_bytes / load");
    let model = two_layer(0);
    let good = Checkpoint::from_model(&model).to_bytes().unwrap();
    let read = |b: &[u8]| Checkpoint::<f32>::from_bytes(b, "x.ckpt").map(|c| c.params.len());
    a.refuses("empty", &["x.ckpt", "truncated", "0 bytes"], || read(&[]));
    a.refuses("4 bytes of the magic", &["x.ckpt", "truncated"], || {
        read(b"FERR")
    });
    a.refuses(
        "text",
        &["x.ckpt", "not a ferrite checkpoint", "hello wo"],
        || read(b"hello world, not a checkpoint"),
    );
    a.refuses("a zip archive", &["x.ckpt", "zip"], || {
        read(b"PK\x03\x04 and more bytes here")
    });
    a.refuses("a safetensors file", &["x.ckpt", "safetensors"], || {
        read(&safetensors("{}", &[]))
    });
    a.refuses("version 2", &["x.ckpt", "version 2"], || {
        let mut b = good.clone();
        b[8] = 2;
        read(&b)
    });
    a.refuses(
        "unknown dtype tag",
        &["x.ckpt", "element type", "f16"],
        || {
            let mut b = good.clone();
            b[12..16].copy_from_slice(b"f16\0");
            read(&b)
        },
    );
    a.refuses(
        "payload length u64::MAX",
        &["x.ckpt", "18446744073709551615"],
        || {
            let mut b = good.clone();
            b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            read(&b)
        },
    );
    a.refuses(
        "truncated by one byte",
        &["x.ckpt", "truncated", "1 missing"],
        || read(&good[..good.len() - 1]),
    );
    a.refuses("header only", &["x.ckpt", "truncated"], || {
        read(&good[..24])
    });
    a.refuses("a trailing byte", &["x.ckpt", "1 unexpected bytes"], || {
        let mut b = good.clone();
        b.push(0);
        read(&b)
    });
    a.refuses("one flipped bit", &["x.ckpt", "checksum"], || {
        let mut b = good.clone();
        b[40] ^= 1;
        read(&b)
    });
    a.refuses(
        "forged: a tensor of shape [2^62, 2^62] (valid checksum)",
        &["x.ckpt", "'w'", "too large"],
        || read(&forged_checkpoint("w", &[1 << 62, 1 << 62], &[])),
    );
    a.refuses(
        "forged: shape [2, 2] with 4 bytes of data",
        &["x.ckpt", "'w'", "16 bytes", "4"],
        || read(&forged_checkpoint("w", &[2, 2], &[0; 4])),
    );
    a.refuses(
        "forged: empty tensor of shape [0, 2^63, 4]",
        &["x.ckpt", "'w'", "9223372036854775808"],
        || read(&forged_checkpoint("w", &[0, 1 << 63, 4], &[])),
    );
    a.refuses(
        "forged: the same parameter name twice",
        &["x.ckpt", "'w'", "twice"],
        || {
            let one = 1.5f32.to_le_bytes();
            read(&forged_checkpoint_of(
                &[("w", &[1], &one), ("w", &[1], &one)],
                &[],
            ))
        },
    );
    a.refuses(
        "forged: a byte after the record (valid checksum)",
        &["x.ckpt", "corrupt payload", "1 unused bytes"],
        || read(&forged_checkpoint_of(&[], &[0])),
    );
    a.refuses(
        "forged: a payload that ends inside the record (valid checksum)",
        &["x.ckpt", "corrupt payload"],
        || read(&sealed_checkpoint(&[0, 5])),
    );
    a.holds("forged: a valid tensor is read back", || {
        let n = read(&forged_checkpoint("w", &[1], &1.5f32.to_le_bytes()))
            .map_err(|e| e.to_string())?;
        ensure(n == 1, || format!("{n} tensors"))
    });
    a.refuses("optimizer_state from garbage", &["optimizer state"], || {
        let c = Checkpoint::<f32> {
            optimizer: Some(vec![0xff; 7]),
            ..Default::default()
        };
        c.optimizer_state::<OptimizerState>()
    });
    a.refuses(
        "optimizer_state with trailing bytes",
        &["optimizer state", "left over"],
        || {
            let mut c = Checkpoint::<f32>::default();
            c.set_optimizer_state(&7u8)?;
            c.optimizer.as_mut().unwrap().push(0);
            c.optimizer_state::<u8>()
        },
    );
    let dir = temp_dir("ckpt");
    a.refuses(
        "load: a missing file",
        &["missing.ckpt", "No such file"],
        || Checkpoint::<f32>::load(dir.join("missing.ckpt")),
    );
    a.refuses("load: a directory", &["ckpt"], || {
        Checkpoint::<f32>::load(&dir)
    });
    a.holds("load of a corrupt file leaves the file untouched", || {
        let path = dir.join("corrupt.ckpt");
        let mut b = good.clone();
        b[30] ^= 0xff;
        std::fs::write(&path, &b).unwrap();
        let result = Checkpoint::<f32>::load(&path);
        let after = std::fs::read(&path).unwrap();
        ensure(result.is_err() && after == b, || {
            "modified or accepted".into()
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn safetensors_reader_refuses_garbage() {
    let mut a = Audit::new("safetensors");
    let read = |b: &[u8]| from_safetensors_bytes::<f32>(b, "m.safetensors").map(|s| s.len());
    let good = to_safetensors_bytes(&state_dict(&two_layer(0))).unwrap();
    a.refuses("empty", &["m.safetensors", "truncated", "0 bytes"], || {
        read(&[])
    });
    a.refuses(
        "header length u64::MAX",
        &["m.safetensors", "18446744073709551615"],
        || read(&u64::MAX.to_le_bytes()),
    );
    a.refuses(
        "header length past the end",
        &["m.safetensors", "truncated", "100"],
        || {
            let mut b = 100u64.to_le_bytes().to_vec();
            b.extend_from_slice(b"{}");
            read(&b)
        },
    );
    a.refuses("a ferrite checkpoint", &["m.safetensors"], || {
        read(&Checkpoint::<f32>::default().to_bytes().unwrap())
    });
    a.refuses("header not JSON", &["m.safetensors", "'{'"], || {
        read(&safetensors("[1, 2]", &[]))
    });
    a.refuses("header broken JSON", &["m.safetensors", "JSON"], || {
        read(&safetensors("{\"a\":", &[]))
    });
    a.refuses("dtype F16", &["m.safetensors", "'w'", "F16"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#,
            &[0; 2],
        ))
    });
    a.refuses("shape [2^62, 2^62]", &["m.safetensors", "'w'", "too large"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}"#,
            &[],
        ))
    });
    a.refuses(
        "shape [0, 2^63, 4] (empty, overflowing)",
        &["m.safetensors", "'w'", "9223372036854775808"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[0,9223372036854775808,4],"data_offsets":[0,0]}}"#,
                &[],
            ))
        },
    );
    a.refuses("negative dim", &["m.safetensors", "'w'"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ))
    });
    a.refuses(
        "offsets past the data",
        &["m.safetensors", "'w'", "[0, 8]", "4 bytes"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 4],
            ))
        },
    );
    a.refuses(
        "offsets reversed",
        &["m.safetensors", "'w'", "[4, 0]"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                &[0; 4],
            ))
        },
    );
    a.refuses(
        "shape [2] with 4 bytes",
        &["m.safetensors", "'w'", "8 bytes", "4"],
        || {
            read(&safetensors(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ))
        },
    );
    a.refuses("overlapping tensors", &["m.safetensors", "overlap"], || {
        read(&safetensors(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ))
    });
    a.refuses("a gap in the data", &["m.safetensors", "0..4"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            &[0; 8],
        ))
    });
    a.refuses("a key twice", &["m.safetensors", "'w'", "twice"], || {
        read(&safetensors(
            r#"{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#,
            &[0; 8],
        ))
    });
    a.refuses(
        "metadata not strings",
        &["m.safetensors", "__metadata__"],
        || read(&safetensors(r#"{"__metadata__":{"a":1}}"#, &[])),
    );
    a.refuses(
        "I64 value 2^53 + 1 into f64",
        &["m.safetensors", "'n'", "9007199254740993"],
        || {
            from_safetensors_bytes::<f64>(
                &safetensors(
                    r#"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#,
                    &((1i64 << 53) + 1).to_le_bytes(),
                ),
                "m.safetensors",
            )
        },
    );
    a.refuses("truncated real file", &["m.safetensors"], || {
        read(&good[..good.len() - 3])
    });
    a.refuses(
        "a tensor named __metadata__ cannot be saved",
        &["__metadata__"],
        || {
            let mut sd = StateDict::<f32>::new();
            sd.insert("__metadata__", z(&[1]));
            to_safetensors_bytes(&sd)
        },
    );
    let dir = temp_dir("st");
    a.refuses(
        "load_safetensors: a missing file",
        &["nope.safetensors"],
        || load_safetensors::<f32>(dir.join("nope.safetensors")),
    );
    a.refuses(
        "save_safetensors into a missing directory",
        &["no-such-dir"],
        || {
            save_safetensors(
                &state_dict(&two_layer(0)),
                dir.join("no-such-dir").join("m.safetensors"),
            )
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn writes_are_atomic() {
    let mut a = Audit::new("write_atomic");
    let dir = temp_dir("atomic");
    let path = dir.join("model.ckpt");
    std::fs::write(&path, b"old contents").unwrap();
    a.refuses(
        "a failing writer",
        &["model.ckpt", "writing failed", "disk full"],
        || {
            write_atomic_with(&path, |f| {
                use std::io::Write;
                f.write_all(b"half of the new")?;
                Err(std::io::Error::other("disk full"))
            })
        },
    );
    a.holds(
        "a failing writer leaves the old file and no temporary file",
        || {
            let contents = std::fs::read(&path).unwrap();
            let names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            ensure(
                contents == b"old contents" && names == ["model.ckpt"],
                || {
                    format!(
                        "file now {:?}, directory {names:?}",
                        String::from_utf8_lossy(&contents)
                    )
                },
            )
        },
    );
    a.refuses(
        "a path without a file name",
        &["not a path to a file"],
        || write_atomic("/", b"x"),
    );
    a.refuses(
        "a missing directory",
        &["missing", "temporary file"],
        || write_atomic(dir.join("missing").join("f"), b"x"),
    );
    a.refuses("Checkpoint::save onto a directory", &["model-dir"], || {
        let d = dir.join("model-dir");
        std::fs::create_dir_all(&d).unwrap();
        Checkpoint::from_model(&two_layer(0)).save(&d)
    });
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

// ---------------------------------------------------------------------------------------
// ferrite-nn: data

#[test]
fn idx_and_mnist_readers_refuse_garbage() {
    let mut a = Audit::new("IDX / MNIST");
    let read = |b: &[u8]| parse_idx(b, "x.idx").map(|i| i.dims);
    a.refuses("empty", &["x.idx", "truncated", "0 bytes"], || read(&[]));
    a.refuses("wrong magic", &["x.idx", "0x12345678"], || {
        read(&[0x12, 0x34, 0x56, 0x78])
    });
    a.refuses("float elements", &["x.idx", "0x0D", "32-bit float"], || {
        read(&[0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    });
    a.refuses(
        "3 dims announced, 1 present",
        &["x.idx", "3 dimensions", "4 bytes"],
        || read(&[0, 0, 8, 3, 0, 0, 0, 1]),
    );
    a.refuses(
        "data truncated",
        &["x.idx", "truncated", "[2, 3]", "6", "5"],
        || read(&idx(&[2, 3], &[0; 5])),
    );
    a.refuses(
        "trailing data",
        &["x.idx", "trailing", "[2, 3]", "7"],
        || read(&idx(&[2, 3], &[0; 7])),
    );
    a.refuses("255 dims of u32::MAX", &["x.idx"], || {
        read(&idx(&[u32::MAX; 255], &[]))
    });
    a.refuses(
        "dims [2^32-1, 2^32-1, 2^32-1]",
        &["x.idx", "4294967295"],
        || read(&idx(&[u32::MAX; 3], &[])),
    );
    a.refuses("gzip garbage", &["x.idx", "gzip"], || {
        read(&[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5])
    });
    a.refuses("read_idx: a missing file", &["missing.idx"], || {
        read_idx(std::path::Path::new("/nonexistent/missing.idx"))
    });

    let images = idx(&[2, 2, 2], &[0; 8]);
    let labels = idx(&[2], &[1, 2]);
    let mnist =
        |i: &[u8], l: &[u8]| Mnist::from_idx_bytes(i, "images", l, "labels").map(|m| m.len());
    a.refuses(
        "images with 2 dims",
        &["images", "0x00000803", "2 dimensions"],
        || mnist(&idx(&[2, 4], &[0; 8]), &labels),
    );
    a.refuses("labels with 2 dims", &["labels", "0x00000801"], || {
        mnist(&images, &idx(&[2, 1], &[0; 2]))
    });
    a.refuses(
        "3 labels for 2 images",
        &["labels", "3 labels", "2 images"],
        || mnist(&images, &idx(&[3], &[0; 3])),
    );
    a.refuses("label 10", &["labels", "label 10", "0 to 9"], || {
        mnist(&images, &idx(&[2], &[0, 10]))
    });
    a.refuses("0x0 images", &["images", "0x0"], || {
        mnist(&idx(&[2, 0, 0], &[]), &labels)
    });
    a.refuses(
        "Mnist::new: pixels do not fit",
        &["Mnist::new", "2 images", "8", "7"],
        || Mnist::new(vec![0; 7], vec![0, 1], [2, 2]),
    );
    a.refuses(
        "Mnist::new: size overflow",
        &["Mnist::new", "18446744073709551615"],
        || Mnist::new(vec![0; 4], vec![0, 1], [usize::MAX, 2]),
    );
    a.refuses("Mnist::new: empty size", &["Mnist::new", "0x3"], || {
        Mnist::new(vec![], vec![], [0, 3])
    });
    a.refuses(
        "Mnist::new: label 255",
        &["Mnist::new", "label 255"],
        || Mnist::new(vec![0], vec![255], [1, 1]),
    );
    a.refuses(
        "Mnist::from_dir: no files",
        &[
            "nonexistent",
            "MNIST train images",
            "train-images-idx3-ubyte",
        ],
        || Mnist::from_dir("/nonexistent", Split::Train),
    );
    a.refuses("Normalize::new(0, 0)", &["Normalize::new", "std 0"], || {
        Normalize::new(0.0, 0.0)
    });
    a.refuses("Normalize::new(NaN, 1)", &["Normalize::new", "NaN"], || {
        Normalize::new(f64::NAN, 1.0)
    });
    a.finish();
}

/// A generated data set: `len` samples of `shape`, all zeros, labelled `index % 10`.
struct Synthetic {
    len: usize,
    shape: Vec<usize>,
}

impl Dataset for Synthetic {
    fn len(&self) -> usize {
        self.len
    }
    fn sample_shape(&self) -> Vec<usize> {
        self.shape.clone()
    }
    fn get_into(&self, index: usize, out: &mut [f32]) -> Result<usize, DataError> {
        out.fill(0.0);
        Ok(index % 10)
    }
}

#[test]
fn data_loader_refuses_bad_batches_and_indices() {
    let mut a = Audit::new("DataLoader / Dataset");
    let ds = Mnist::new(vec![0; 12], vec![0, 1, 2], [2, 2]).unwrap();
    a.refuses(
        "batch size 0",
        &["DataLoader::epoch", "batch size", "0"],
        || {
            DataLoader::new(&ds)
                .with_batch_size(0)
                .epoch(0)
                .next()
                .unwrap()
        },
    );
    a.holds("batch size 0: the error ends the epoch", || {
        let n = DataLoader::new(&ds).with_batch_size(0).epoch(0).count();
        ensure(n == 1, || format!("{n} items"))
    });
    a.refuses(
        "Mnist::get(3) of 3 samples",
        &["Mnist::get_into", "index 3", "3 samples"],
        || ds.get(3),
    );
    a.refuses(
        "get_into with a 5-value buffer",
        &["Mnist::get_into", "5", "4"],
        || Dataset::get_into(&ds, 0, &mut [0.0f32; 5]),
    );
    a.refuses(
        "get_into with a 3-value buffer",
        &["Mnist::get_into", "3", "4"],
        || Dataset::get_into(&ds, 0, &mut [0.0f32; 3]),
    );
    a.refuses(
        "Subset::new with index 3 of 3",
        &["Subset::new", "index 3", "3 samples"],
        || Subset::new(&ds, vec![0, 3]),
    );
    a.refuses(
        "Subset get(2) of 2",
        &["Subset::get_into", "index 2", "2 samples"],
        || Subset::new(&ds, vec![0, 1])?.get(2),
    );
    let huge_sample = Synthetic {
        len: 3,
        shape: vec![usize::MAX, 2],
    };
    a.refuses(
        "Dataset::get of a sample shape [usize::MAX, 2]",
        &["Dataset::get", "[18446744073709551615, 2]"],
        || huge_sample.get(0),
    );
    a.refuses(
        "DataLoader over samples of shape [usize::MAX, 2]",
        &["DataLoader::epoch", "[18446744073709551615, 2]"],
        || DataLoader::new(&huge_sample).epoch(0).next().unwrap(),
    );
    // A generated data set may be (practically) endless; PyTorch's sequential sampler is
    // lazy, so the first batch comes at once.
    a.holds(
        "DataLoader over usize::MAX generated samples gives a first batch",
        || {
            let endless = Synthetic {
                len: usize::MAX,
                shape: vec![1],
            };
            let batch = DataLoader::new(&endless)
                .with_batch_size(2)
                .epoch(0)
                .next()
                .ok_or("no batch")?
                .map_err(|e| e.to_string())?;
            ensure(batch.labels == [0, 1], || format!("{batch:?}"))
        },
    );
    a.refuses(
        "Subset::new with usize::MAX",
        &["Subset::new", "18446744073709551615"],
        || Subset::new(&ds, vec![usize::MAX]),
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// Zero sizes: valid input, answered like PyTorch (an empty result or a defined value).

#[test]
fn zero_sizes_are_answered() {
    let mut a = Audit::new("zero sizes");
    let shape_is = |got: Vec<usize>, want: &[usize]| {
        ensure(got == want, || format!("shape {got:?}, expected {want:?}"))
    };
    a.holds("reshape [0] -> [0, 5]", || {
        shape_is(
            z(&[0])
                .reshape(&[0, 5])
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0, 5],
        )
    });
    a.holds("sum of [0] is 0", || {
        let s = z(&[0])
            .sum(&[], false)
            .map_err(|e| e.to_string())?
            .item()
            .map_err(|e| e.to_string())?;
        ensure(s == 0.0, || format!("{s}"))
    });
    a.holds("cat of [2, 0] and [2, 3] on dim 1", || {
        shape_is(
            Tensor::cat(&[&z(&[2, 0]), &z(&[2, 3])], 1)
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[2, 3],
        )
    });
    a.holds("stack of two [0]", || {
        shape_is(
            Tensor::stack(&[&z(&[0]), &z(&[0])], 0)
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[2, 0],
        )
    });
    a.holds("matmul [0, 3] x [3, 2]", || {
        shape_is(
            z(&[0, 3])
                .matmul(&z(&[3, 2]))
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0, 2],
        )
    });
    a.holds("amax over dim 1 of [0, 3]", || {
        shape_is(
            z(&[0, 3])
                .amax(&[1], false)
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0],
        )
    });
    a.holds("conv2d of an empty batch [0, 1, 5, 5]", || {
        let y = z(&[0, 1, 5, 5])
            .conv2d(&z(&[2, 1, 3, 3]), None, &Conv2dParams::default())
            .map_err(|e| e.to_string())?;
        shape_is(y.shape().to_vec(), &[0, 2, 3, 3])
    });
    a.holds("conv2d_backward of an empty batch", || {
        let g = conv2d_backward(
            &z(&[0, 2, 3, 3]),
            &z(&[0, 1, 5, 5]),
            &z(&[2, 1, 3, 3]),
            &Conv2dParams::default(),
            [true, true, true],
        )
        .map_err(|e| e.to_string())?;
        let w = g.weight.ok_or("no weight grad")?;
        ensure(
            w.shape() == [2, 1, 3, 3] && w.to_vec().iter().all(|&v| v == 0.0),
            || format!("{w:?}"),
        )
    });
    a.holds("max_pool2d of an empty batch", || {
        shape_is(
            z(&[0, 1, 4, 4])
                .max_pool2d(&Pool2dParams::new([2, 2]))
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0, 1, 2, 2],
        )
    });
    a.holds("Linear forward of an empty batch, and backward", || {
        let fc = Linear::<f32>::new(3, 2);
        let y = fc
            .forward(&Var::new(z(&[0, 3])))
            .map_err(|e| e.to_string())?;
        shape_is(y.shape(), &[0, 2])?;
        y.sum_all()
            .and_then(|s| s.backward())
            .map_err(|e| e.to_string())?;
        let g = fc.weight().grad().ok_or("no weight grad")?;
        ensure(g.to_vec().iter().all(|&v| v == 0.0), || format!("{g:?}"))
    });
    a.holds(
        "cross_entropy with reduction sum of an empty batch is 0",
        || {
            let l = cross_entropy(
                &Var::parameter(z(&[0, 3])),
                &Indices::from_classes(&[]),
                &CrossEntropyOptions::default().with_reduction(Reduction::Sum),
            )
            .map_err(|e| e.to_string())?;
            ensure(l.item().map_err(|e| e.to_string())? == 0.0, || {
                format!("{l:?}")
            })
        },
    );
    a.holds("DataLoader over an empty data set has no batch", || {
        let ds = Mnist::new(vec![], vec![], [2, 2]).map_err(|e| e.to_string())?;
        let n = DataLoader::new(&ds).with_batch_size(4).epoch(0).count();
        ensure(n == 0, || format!("{n} batches"))
    });
    a.holds(
        "state dict round trip of a zero-size tensor through safetensors",
        || {
            let mut sd = StateDict::<f32>::new();
            sd.insert("e", z(&[0, 3]));
            let back = from_safetensors_bytes::<f32>(
                &to_safetensors_bytes(&sd).map_err(|e| e.to_string())?,
                "e",
            )
            .map_err(|e| e.to_string())?;
            ensure(back == sd, || format!("{back:?}"))
        },
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// The panicking conveniences: they panic by design (documented in `# Panics`), with the
// message of the fallible method they wrap, which names the op.

#[test]
fn panicking_conveniences_panic_with_the_op_message() {
    let mut a = Audit::new("panicking conveniences");
    let (x, y) = (z(&[2]), z(&[3]));
    let expect_panic = |a: &mut Audit, case: &str, needles: &[&str], f: &dyn Fn()| {
        a.cases += 1;
        let call = || {
            f();
            Ok::<(), String>(())
        };
        match run(call, |_| String::new()) {
            Outcome::Panic(p) => {
                if std::env::var_os("FERRITE_PRINT_ERRORS").is_some() {
                    println!("{} | {case} | {p}", a.area);
                }
                let missing: Vec<&&str> = needles.iter().filter(|n| !p.contains(**n)).collect();
                if !missing.is_empty() {
                    a.failures.push(format!(
                        "{case}: the panic message does not name {missing:?}: {p}"
                    ));
                }
            }
            _ => a.failures.push(format!("{case}: did not panic")),
        }
    };
    expect_panic(
        &mut a,
        "&Tensor + &Tensor",
        &["add: shapes [2] and [3]"],
        &|| drop(&x + &y),
    );
    expect_panic(
        &mut a,
        "&Tensor - &Tensor",
        &["sub: shapes [2] and [3]"],
        &|| drop(&x - &y),
    );
    expect_panic(
        &mut a,
        "&Tensor * &Tensor",
        &["mul: shapes [2] and [3]"],
        &|| drop(&x * &y),
    );
    expect_panic(
        &mut a,
        "&Tensor / &Tensor",
        &["div: shapes [2] and [3]"],
        &|| drop(&x / &y),
    );
    let (vx, vy) = (Var::parameter(x.clone()), Var::new(y.clone()));
    expect_panic(&mut a, "&Var + &Var", &["add: shapes [2] and [3]"], &|| {
        drop(&vx + &vy)
    });
    expect_panic(&mut a, "&Var - &Var", &["sub: shapes [2] and [3]"], &|| {
        drop(&vx - &vy)
    });
    expect_panic(&mut a, "&Var * &Var", &["mul: shapes [2] and [3]"], &|| {
        drop(&vx * &vy)
    });
    expect_panic(&mut a, "&Var / &Var", &["div: shapes [2] and [3]"], &|| {
        drop(&vx / &vy)
    });
    expect_panic(&mut a, "Var + Var", &["add: shapes [2] and [3]"], &|| {
        drop(vx.clone() + vy.clone())
    });
    expect_panic(&mut a, "Var / Var", &["div: shapes [2] and [3]"], &|| {
        drop(vx.clone() / vy.clone())
    });
    // Under detect_anomaly the operators also panic on a non-finite result (their # Panics
    // sections mention only shapes; `-&var`'s has none).
    let nan = Var::new(t(&[f32::NAN], &[1]));
    expect_panic(
        &mut a,
        "-&Var of NaN under detect_anomaly",
        &["detect_anomaly", "neg"],
        &|| detect_anomaly(|| drop(-&nan)),
    );
    expect_panic(
        &mut a,
        "&Var * &Var of NaN under detect_anomaly",
        &["detect_anomaly", "mul"],
        &|| detect_anomaly(|| drop(&nan * &nan)),
    );
    a.holds("-&Tensor never panics", || {
        let n = -&t(&[f32::NAN, 1.0], &[2]);
        ensure(n.to_vec()[1] == -1.0, || format!("{n:?}"))
    });
    a.finish();
}

#[test]
fn norms_adaptive_pools_and_unpooling_refuse_bad_inputs() {
    use ferrite::nn::{
        AdaptiveAvgPool2d, AdaptiveMaxPool2d, BatchNorm1d, GroupNorm, LayerNorm, MaxUnpool2d,
        batch_norm1d,
    };
    use ferrite::tensor::{
        Indices, Unpool2dParams, adaptive_avg_pool2d_backward, group_norm_backward,
        layer_norm_backward, max_unpool2d_backward,
    };
    let mut a = Audit::new("norms and pools");
    let x = Var::new(z(&[2, 6, 3]));
    a.refuses(
        "layer_norm: empty normalized_shape",
        &["layer_norm", "[]"],
        || x.layer_norm(&[], None, None, 1e-5),
    );
    a.refuses(
        "layer_norm: trailing dims",
        &["layer_norm", "[*, 6]", "[2, 6, 3]"],
        || x.layer_norm(&[6], None, None, 1e-5),
    );
    let w2 = Var::new(z(&[2]));
    a.refuses(
        "layer_norm: weight shape",
        &["layer_norm", "weight", "[3]", "[2]"],
        || x.layer_norm(&[3], Some(&w2), None, 1e-5),
    );
    a.refuses("group_norm: 1-D input", &["group_norm", "[6]"], || {
        Var::new(z(&[6])).group_norm(1, None, None, 1e-5)
    });
    a.refuses(
        "group_norm: 4 groups of 6 channels",
        &["group_norm", "6 channels", "num_groups 4"],
        || x.group_norm(4, None, None, 1e-5),
    );
    a.refuses(
        "group_norm: 0 groups",
        &["group_norm", "num_groups 0"],
        || x.group_norm(0, None, None, 1e-5),
    );
    a.refuses(
        "group_norm: bias shape",
        &["group_norm", "bias", "[6]", "[2]"],
        || x.group_norm(2, None, Some(&w2), 1e-5),
    );
    let saved = x.value().layer_norm(&[3], None, None, 1e-5).unwrap().saved;
    a.refuses(
        "layer_norm_backward: grad_output shape",
        &["layer_norm", "[2, 3, 6]"],
        || layer_norm_backward(&z(&[2, 3, 6]), &saved, [true; 3]),
    );
    a.refuses(
        "group_norm_backward: saved by layer_norm",
        &["group_norm", "layer_norm"],
        || group_norm_backward(&z(&[2, 6, 3]), &saved, [true; 3]),
    );
    a.refuses(
        "LayerNorm: wrong trailing dim",
        &["layer_norm", "[4, 7]"],
        || LayerNorm::<f32>::new(&[6]).forward(&Var::new(z(&[4, 7]))),
    );
    a.refuses(
        "GroupNorm: 5 groups of 32 channels",
        &["GroupNorm", "32", "5"],
        || GroupNorm::<f32>::new(5, 32).forward(&Var::new(z(&[2, 32, 2]))),
    );
    a.refuses(
        "GroupNorm: channel count",
        &["GroupNorm", "6 channels", "expects 4"],
        || GroupNorm::<f32>::new(2, 4).forward(&x),
    );
    a.refuses(
        "BatchNorm1d: 4-D input",
        &["batch_norm1d", "[2, 3, 4, 4]"],
        || BatchNorm1d::<f32>::new(3).forward(&Var::new(z(&[2, 3, 4, 4]))),
    );
    a.refuses(
        "BatchNorm1d: channel count",
        &["batch_norm1d", "3 channels", "expects 2"],
        || BatchNorm1d::<f32>::new(2).forward(&Var::new(z(&[4, 3]))),
    );
    a.refuses(
        "BatchNorm1d: one value per channel",
        &["batch_norm", "more than 1 value", "[1, 2]"],
        || BatchNorm1d::<f32>::new(2).forward(&Var::new(z(&[1, 2]))),
    );
    a.refuses("BatchNorm1d: eps -1", &["batch_norm", "eps", "-1"], || {
        BatchNorm1d::<f32>::new(2)
            .with_eps(-1.0)
            .forward(&Var::new(z(&[3, 2])))
    });
    a.refuses("batch_norm1d: 1-D input", &["batch_norm1d", "[4]"], || {
        batch_norm1d(
            &Var::new(z(&[4])),
            None,
            None,
            None,
            None,
            &BatchNormOptions::new().with_training(true),
        )
    });
    a.refuses(
        "adaptive_avg_pool2d: 2-D input",
        &["adaptive_avg_pool2d", "[4, 4]"],
        || Var::new(z(&[4, 4])).adaptive_avg_pool2d(2),
    );
    a.refuses(
        "AdaptiveMaxPool2d: zero channels",
        &["adaptive_max_pool2d", "[1, 0, 4, 4]"],
        || AdaptiveMaxPool2d::new(2).forward(&Var::new(z(&[1, 0, 4, 4]))),
    );
    a.refuses(
        "AdaptiveAvgPool2d: 5-D input",
        &["adaptive_avg_pool2d", "[1, 1, 1, 4, 4]"],
        || AdaptiveAvgPool2d::new(1).forward(&Var::new(z(&[1, 1, 1, 4, 4]))),
    );
    a.refuses(
        "adaptive_avg_pool2d_backward: grad_output",
        &["adaptive_avg_pool2d_backward", "[3, 2, 2]", "[2, 3, 5]"],
        || adaptive_avg_pool2d_backward(&z(&[3, 2, 2]), &[2, 3, 5]),
    );
    a.refuses(
        "avg_pool2d: divisor_override 0",
        &["avg_pool2d", "divisor_override", "0"],
        || {
            AvgPool2d::new(2)
                .with_divisor_override(0)
                .forward(&Var::new(z(&[1, 4, 4])))
        },
    );
    let y = Var::new(z(&[1, 2, 2]));
    let idx = Indices::from_vec(vec![0, 1, 2, 16], &[1, 2, 2]).unwrap();
    a.refuses(
        "MaxUnpool2d: index out of the plane",
        &["max_unpool2d", "index 16", "16"],
        || MaxUnpool2d::new(2).forward(&y, &idx),
    );
    let small = Indices::from_vec(vec![0, 1], &[1, 1, 2]).unwrap();
    a.refuses(
        "max_unpool2d: indices shape",
        &["max_unpool2d", "[1, 2, 2]", "[1, 1, 2]"],
        || y.max_unpool2d(&small, &Unpool2dParams::new(2)),
    );
    a.refuses(
        "max_unpool2d: 2-D input",
        &["max_unpool2d", "[2, 2]"],
        || Var::new(z(&[2, 2])).max_unpool2d(&idx, &Unpool2dParams::new(2)),
    );
    a.refuses(
        "MaxUnpool2d: output_size too large",
        &["max_unpool2d", "output_size", "[6, 4]"],
        || MaxUnpool2d::new(2).forward_with_output_size(&y, &idx, [6, 4]),
    );
    a.refuses(
        "max_unpool2d: negative default size",
        &["max_unpool2d", "negative"],
        || Unpool2dParams::new(1).with_padding(3).output_size([2, 2]),
    );
    a.refuses(
        "max_unpool2d_backward: indices rank",
        &["max_unpool2d_backward", "[1, 4, 4]", "[1]"],
        || max_unpool2d_backward(&z(&[1, 4, 4]), &Indices::from_vec(vec![0], &[1]).unwrap()),
    );
    a.finish();
}
