//! [`Checkpoint`]: a training checkpoint and its file format, and [`write_atomic`].
//!
//! # File format (version 1)
//!
//! | offset | size | contents |
//! | --- | --- | --- |
//! | 0 | 8 | magic bytes `FERRITE\0` ([`MAGIC`]) |
//! | 8 | 4 | format version, `u32` little-endian ([`FORMAT_VERSION`]) |
//! | 12 | 4 | element type of the tensors: `f32\0` or `f64\0` |
//! | 16 | 8 | payload length `n`, `u64` little-endian |
//! | 24 | `n` | payload: bincode 2 (standard configuration) of the serde record below |
//! | 24 + `n` | 8 | FNV-1a 64-bit hash of bytes `0 .. 24 + n`, `u64` little-endian |
//!
//! The payload record is, in order: `epoch: u64`; `params` and `extra`, each a sequence
//! of tensors `{ name: str, shape: [u64], data: bytes }` (row-major little-endian elements
//! of the header's type); `optimizer: Option<bytes>`; `rng: Option<ChaCha8Rng>` (its serde
//! form: seed, stream, word position); `metadata: [(str, str)]`.
//!
//! Any change to one byte is detected (by the checksum if not before): FNV-1a maps each
//! byte through a bijection of its 64-bit state.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ferrite_tensor::{Float, Rng, Tensor};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::state_dict::{LoadReport, StateDict, Strict, load_state_dict, state_dict};
use super::{Dtype, checked_byte_len, decode_le_bytes, extend_le_bytes};
use crate::{Module, NnError};

/// The first 8 bytes of every ferrite checkpoint file.
///
/// ```
/// assert_eq!(&ferrite_nn::checkpoint::MAGIC, b"FERRITE\0");
/// ```
pub const MAGIC: [u8; 8] = *b"FERRITE\0";

/// The version of the checkpoint file format that this build writes and reads.
///
/// ```
/// assert_eq!(ferrite_nn::checkpoint::FORMAT_VERSION, 1);
/// ```
pub const FORMAT_VERSION: u32 = 1;

/// Magic, version, dtype tag, payload length.
const HEADER_LEN: usize = 24;
/// The trailing checksum.
const CHECKSUM_LEN: usize = 8;

/// The FNV-1a 64-bit hash of `bytes`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn dtype_tag(dtype: Dtype) -> [u8; 4] {
    match dtype {
        Dtype::F32 => *b"f32\0",
        Dtype::F64 => *b"f64\0",
    }
}

/// `bytes` shown as a string with non-printable bytes escaped (for messages).
fn escaped(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// One tensor in the payload. Decoding borrows `name` and `data` from the file's bytes, so
/// a length field can never make the decoder allocate more than the bytes present.
#[derive(Serialize, Deserialize)]
struct WireTensor<'a> {
    name: &'a str,
    shape: Vec<u64>,
    data: &'a [u8],
}

/// The payload record (see the module documentation).
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    epoch: u64,
    #[serde(borrow)]
    params: Vec<WireTensor<'a>>,
    #[serde(borrow)]
    extra: Vec<WireTensor<'a>>,
    #[serde(borrow)]
    optimizer: Option<&'a [u8]>,
    rng: Option<Rng>,
    #[serde(borrow)]
    metadata: Vec<(&'a str, &'a str)>,
}

/// A training checkpoint: everything needed to resume training or to evaluate a model.
///
/// * `params`: the model's [`StateDict`] (see [`Checkpoint::from_model`]);
/// * `optimizer`: the optimizer's state, already serialized (an opaque blob;
///   [`Checkpoint::set_optimizer_state`]`(&opt.state())` and
///   `opt.load_state(ckpt.`[`optimizer_state`](Checkpoint::optimizer_state)`()?.unwrap())`
///   store and restore an [`OptimizerState`](crate::optim::OptimizerState) with bincode);
/// * `epoch`: the number of completed epochs;
/// * `rng`: the random generator, to continue the same stream of shuffles and dropouts;
/// * `metadata`: free-form strings (a run name, hyper-parameters, the model's description
///   under [`Checkpoint::MODEL_KEY`]);
/// * `extra`: more named tensors (e.g. an exponential moving average of the weights).
///
/// Saved with [`Checkpoint::save`] (atomically, with a checksum) and read back with
/// [`Checkpoint::load`], which refuses truncated, corrupt or foreign files. The tensors
/// are stored with `T`'s precision; loading a file of the other precision converts.
///
/// ```
/// use ferrite_nn::checkpoint::Checkpoint;
/// use ferrite_nn::{Linear, Module, Sequential, Strict, ModuleExt};
/// let model = Sequential::<f32>::new().add_module("fc1", Linear::new(3, 2));
/// let mut ckpt = Checkpoint::from_model(&model);
/// ckpt.epoch = 5;
/// ckpt.metadata.insert("lr".into(), "0.01".into());
/// ckpt.optimizer = Some(vec![1, 2, 3]);
///
/// let bytes = ckpt.to_bytes()?;
/// let back = Checkpoint::<f32>::from_bytes(&bytes, "in memory")?;
/// assert_eq!(back, ckpt);
///
/// let fresh = Sequential::<f32>::new().add_module("fc1", Linear::new(3, 2));
/// back.load_into(&fresh, Strict::Yes)?;
/// assert_eq!(fresh.parameters()[0].value(), model.parameters()[0].value());
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint<T: Float = f32> {
    /// The model's parameters and buffers.
    pub params: StateDict<T>,
    /// The optimizer's state, serialized by the optimizer (opaque here).
    pub optimizer: Option<Vec<u8>>,
    /// The number of completed epochs.
    pub epoch: u64,
    /// The random generator's state.
    pub rng: Option<Rng>,
    /// Free-form strings.
    pub metadata: BTreeMap<String, String>,
    /// More named tensors, saved and loaded with the parameters.
    pub extra: StateDict<T>,
}

impl<T: Float> Default for Checkpoint<T> {
    fn default() -> Self {
        Checkpoint::new(StateDict::new())
    }
}

/// A one-line description of a model and its sub-modules, e.g.
/// `Sequential(fc1: Linear(in_features=4, out_features=2, bias=true), 1: ReLU())`.
fn describe_model<T: Float>(model: &dyn Module<T>) -> String {
    let children = model.children();
    if children.is_empty() {
        model.describe()
    } else {
        let inner: Vec<String> = children
            .iter()
            .map(|(name, child)| format!("{name}: {}", describe_model(*child)))
            .collect();
        format!("{}({})", model.describe(), inner.join(", "))
    }
}

macro_rules! decode_with_limit {
    ($bytes:expr, $needed:expr, $($bits:literal),*) => {{
        let needed: usize = $needed;
        $(
            if needed <= limit_bucket($bits) {
                bincode::serde::decode_from_slice(
                    $bytes,
                    bincode::config::standard().with_limit::<{ limit_bucket($bits) }>(),
                )
            } else
        )*
        {
            bincode::serde::decode_from_slice(
                $bytes,
                bincode::config::standard().with_limit::<{ limit_bucket(62) }>(),
            )
        }
    }};
}

/// `2^bits`, saturating at `usize::MAX` (on 32-bit targets).
const fn limit_bucket(bits: u32) -> usize {
    if bits >= usize::BITS {
        usize::MAX
    } else {
        1usize << bits
    }
}

impl<T: Float> Checkpoint<T> {
    /// The metadata key under which [`Checkpoint::from_model`] records the model's
    /// description, quoted by [`Checkpoint::load_into`] when the checkpoint does not fit.
    pub const MODEL_KEY: &'static str = "model";

    /// A checkpoint of `params` with epoch 0 and nothing else.
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// use ferrite_nn::StateDict;
    /// let c = Checkpoint::new(StateDict::<f32>::new());
    /// assert_eq!(c.epoch, 0);
    /// assert!(c.optimizer.is_none() && c.rng.is_none() && c.metadata.is_empty());
    /// ```
    pub fn new(params: StateDict<T>) -> Self {
        Checkpoint {
            params,
            optimizer: None,
            epoch: 0,
            rng: None,
            metadata: BTreeMap::new(),
            extra: StateDict::new(),
        }
    }

    /// A checkpoint of the model's [`state_dict`], with the model's description in
    /// `metadata[MODEL_KEY]`.
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// use ferrite_nn::{Linear, ReLU, Sequential};
    /// let model = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2)).append(ReLU);
    /// let c = Checkpoint::from_model(&model);
    /// assert_eq!(c.params.len(), 2);
    /// assert_eq!(
    ///     c.metadata[Checkpoint::<f32>::MODEL_KEY],
    ///     "Sequential(fc1: Linear(in_features=4, out_features=2, bias=true), 1: ReLU())"
    /// );
    /// ```
    pub fn from_model(model: &dyn Module<T>) -> Self {
        let mut c = Checkpoint::new(state_dict(model));
        c.metadata
            .insert(Self::MODEL_KEY.to_string(), describe_model(model));
        c
    }

    /// Loads `params` into `model` with [`load_state_dict`].
    ///
    /// # Errors
    /// As [`load_state_dict`]; when the checkpoint does not fit and it records the model it
    /// was saved from (`metadata[MODEL_KEY]`), the message also names both models.
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// use ferrite_nn::{Linear, Sequential, Strict};
    /// let small = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2));
    /// let big = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 8));
    /// let err = Checkpoint::from_model(&small).load_into(&big, Strict::Yes).unwrap_err();
    /// let msg = err.to_string();
    /// assert!(msg.contains("wrong shapes [fc1.weight: model [8, 4], checkpoint [2, 4]"), "{msg}");
    /// assert!(msg.contains("saved from Sequential(fc1: Linear(in_features=4, out_features=2"), "{msg}");
    /// ```
    pub fn load_into(&self, model: &dyn Module<T>, strict: Strict) -> Result<LoadReport, NnError> {
        match load_state_dict(model, &self.params, strict) {
            Err(NnError::StateDict { message, report }) if !report.is_clean() => {
                let message = match self.metadata.get(Self::MODEL_KEY) {
                    Some(saved) => format!(
                        "{message} (the checkpoint was saved from {saved}; this model is {})",
                        describe_model(model)
                    ),
                    None => message,
                };
                Err(NnError::StateDict { message, report })
            }
            other => other,
        }
    }

    /// Serializes `state` (any serde type, e.g. an optimizer's state) into `optimizer`
    /// with bincode 2's standard configuration.
    ///
    /// # Errors
    /// [`NnError::Format`] when `state` cannot be serialized (a serde implementation that
    /// fails, or a sequence of unknown length).
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// use std::collections::BTreeMap;
    /// let mut c = Checkpoint::<f32>::default();
    /// let state: BTreeMap<String, Vec<f64>> = [("momentum".to_string(), vec![0.5, 0.25])].into();
    /// c.set_optimizer_state(&state)?;
    /// let back: Option<BTreeMap<String, Vec<f64>>> = c.optimizer_state()?;
    /// assert_eq!(back, Some(state));
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn set_optimizer_state<S: Serialize + ?Sized>(&mut self, state: &S) -> Result<(), NnError> {
        let bytes = bincode::serde::encode_to_vec(state, bincode_config())
            .map_err(|e| NnError::format("optimizer state", format!("could not serialize: {e}")))?;
        self.optimizer = Some(bytes);
        Ok(())
    }

    /// Deserializes `optimizer` as written by [`Checkpoint::set_optimizer_state`]; `None`
    /// when the checkpoint has no optimizer state.
    ///
    /// Decoding is limited to a small multiple of the blob's size, so a corrupt length field
    /// cannot make it allocate more than the blob justifies.
    ///
    /// # Errors
    /// [`NnError::Format`] when the blob is not a valid encoding of `S` (another type, or
    /// bytes left over).
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// let mut c = Checkpoint::<f32>::default();
    /// assert_eq!(c.optimizer_state::<Vec<u32>>()?, None);
    /// c.optimizer = Some(vec![0xff]); // not a valid Vec<u32>
    /// assert!(c.optimizer_state::<Vec<u32>>().is_err());
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn optimizer_state<S: DeserializeOwned>(&self) -> Result<Option<S>, NnError> {
        let Some(bytes) = &self.optimizer else {
            return Ok(None);
        };
        // bincode "claims" at most 16 bytes of memory per byte read (a u128 in one varint
        // byte), and a string's length before reading it: 16x the blob bounds both.
        let needed = bytes.len().saturating_mul(16).saturating_add(64);
        let decoded: Result<(S, usize), _> = decode_with_limit!(
            bytes, needed, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40
        );
        match decoded {
            Ok((state, used)) if used == bytes.len() => Ok(Some(state)),
            Ok((_, used)) => Err(NnError::format(
                "optimizer state",
                format!("{} bytes left over after decoding", bytes.len() - used),
            )),
            Err(e) => Err(NnError::format(
                "optimizer state",
                format!("not a valid encoding of the requested type: {e}"),
            )),
        }
    }

    /// The checkpoint file's bytes (see the module documentation for the layout).
    ///
    /// # Errors
    /// [`NnError::Format`] if the payload cannot be encoded (not expected to happen).
    ///
    /// ```
    /// use ferrite_nn::checkpoint::{Checkpoint, MAGIC};
    /// let bytes = Checkpoint::<f64>::default().to_bytes()?;
    /// assert_eq!(bytes[..8], MAGIC);
    /// assert_eq!(&bytes[12..16], b"f64\0");
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, NnError> {
        self.encode("checkpoint")
    }

    fn encode(&self, name: &str) -> Result<Vec<u8>, NnError> {
        let dtype = Dtype::of::<T>();
        let raw = |sd: &StateDict<T>| -> Vec<(String, Vec<u64>, Vec<u8>)> {
            sd.iter()
                .map(|(n, t)| {
                    let mut data = Vec::new();
                    extend_le_bytes(t, dtype, &mut data);
                    let shape = t.shape().iter().map(|&d| d as u64).collect();
                    (n.to_string(), shape, data)
                })
                .collect()
        };
        let params = raw(&self.params);
        let extra = raw(&self.extra);
        let wire = Wire {
            epoch: self.epoch,
            params: wire_tensors(&params),
            extra: wire_tensors(&extra),
            optimizer: self.optimizer.as_deref(),
            rng: self.rng.clone(),
            metadata: self
                .metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        let payload = bincode::serde::encode_to_vec(&wire, bincode_config())
            .map_err(|e| NnError::format(name, format!("could not encode the checkpoint: {e}")))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&dtype_tag(dtype));
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Reads a checkpoint from the bytes of a checkpoint file; `name` (a path or any
    /// label) is used in error messages.
    ///
    /// # Errors
    /// [`NnError::Format`] naming `name` when the bytes are not a ferrite checkpoint (wrong
    /// magic), of another format version (both versions are named), truncated (saying what
    /// is missing), followed by stray bytes, corrupt (checksum mismatch) or inconsistent
    /// (a tensor's data does not match its shape, a repeated name). Never panics, and never
    /// allocates more than a small multiple of `bytes.len()`.
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// let bytes = Checkpoint::<f32>::default().to_bytes()?;
    /// assert!(Checkpoint::<f32>::from_bytes(&bytes, "ok").is_ok());
    /// let err = Checkpoint::<f32>::from_bytes(&bytes[..bytes.len() - 1], "cut.ckpt").unwrap_err();
    /// assert!(err.to_string().starts_with("cut.ckpt: truncated"), "{err}");
    /// let mut bad = bytes.clone();
    /// bad[30] ^= 1;
    /// assert!(Checkpoint::<f32>::from_bytes(&bad, "bad").unwrap_err().to_string().contains("checksum"));
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self, NnError> {
        let fail = |message: String| NnError::format(name, message);
        check_magic(bytes, &fail)?;
        // The version is checked before anything else, as another version may lay out the
        // rest differently.
        check_version(bytes, &fail)?;
        let (dtype, total) = read_header(bytes, &fail)?;
        let body = check_checksum(bytes, total, &fail)?;
        Self::from_payload(&body[HEADER_LEN..], dtype, &fail)
    }

    /// Decodes the payload and checks its tensors and metadata. Strings and byte arrays are
    /// borrowed from `payload`, sequences grow only as their elements are actually read, so
    /// nothing is allocated beyond what is there.
    fn from_payload(
        payload: &[u8],
        dtype: Dtype,
        fail: &dyn Fn(String) -> NnError,
    ) -> Result<Self, NnError> {
        let (wire, used): (Wire<'_>, usize) =
            bincode::serde::borrow_decode_from_slice(payload, bincode_config())
                .map_err(|e| fail(format!("corrupt payload: {e}")))?;
        if used != payload.len() {
            return Err(fail(format!(
                "corrupt payload: {} unused bytes at its end",
                payload.len() - used
            )));
        }
        let params = tensors_from_wire(&wire.params, dtype, "parameter", fail)?;
        let extra = tensors_from_wire(&wire.extra, dtype, "extra tensor", fail)?;
        let mut metadata = BTreeMap::new();
        for (k, v) in wire.metadata {
            if metadata.insert(k.to_string(), v.to_string()).is_some() {
                return Err(fail(format!("metadata key '{k}' appears twice")));
            }
        }
        Ok(Checkpoint {
            params,
            optimizer: wire.optimizer.map(<[u8]>::to_vec),
            epoch: wire.epoch,
            rng: wire.rng,
            metadata,
            extra,
        })
    }

    /// Writes the checkpoint to `path` atomically (see [`write_atomic`]): after a failure
    /// or a crash, `path` holds either the old file or the new one, complete.
    ///
    /// # Errors
    /// [`NnError::Io`] when the file cannot be written (the old file is then untouched and
    /// no temporary file is left behind).
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// let path = std::env::temp_dir().join(format!("ferrite-doc-save-{}.ckpt", std::process::id()));
    /// let mut c = Checkpoint::<f32>::default();
    /// c.epoch = 7;
    /// c.save(&path)?;
    /// assert_eq!(Checkpoint::<f32>::load(&path)?.epoch, 7);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), NnError> {
        let path = path.as_ref();
        let bytes = self.encode(&path.display().to_string())?;
        write_atomic(path, &bytes)
    }

    /// Reads a checkpoint file written by [`Checkpoint::save`]. The file is only read.
    ///
    /// # Errors
    /// [`NnError::Io`] when the file cannot be read; otherwise as
    /// [`Checkpoint::from_bytes`], with the path in the message.
    ///
    /// ```
    /// use ferrite_nn::checkpoint::Checkpoint;
    /// let err = Checkpoint::<f32>::load("/no/such/file.ckpt").unwrap_err();
    /// assert!(err.to_string().starts_with("/no/such/file.ckpt: "));
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, NnError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| NnError::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }
}

/// Checks that `bytes` start with the 8-byte [`MAGIC`], with a hint for other formats.
fn check_magic(bytes: &[u8], fail: &dyn Fn(String) -> NnError) -> Result<(), NnError> {
    let len = bytes.len();
    let magic_len = MAGIC.len();
    if len < magic_len {
        return Err(if bytes == &MAGIC[..len] {
            fail(format!(
                "truncated: the file has {len} bytes, not even the 8-byte magic \"{}\"",
                escaped(&MAGIC)
            ))
        } else {
            fail(format!(
                "not a ferrite checkpoint (expected the magic bytes \"{}\", found \"{}\")",
                escaped(&MAGIC),
                escaped(bytes)
            ))
        });
    }
    if bytes[..magic_len] != MAGIC {
        let hint = if bytes.starts_with(b"PK\x03\x04") {
            "; it looks like a zip archive, e.g. a PyTorch .pt file: read it with load_torch"
        } else if len > 8 && bytes[8] == b'{' {
            "; it looks like a safetensors file: use load_safetensors"
        } else {
            ""
        };
        return Err(fail(format!(
            "not a ferrite checkpoint (expected the magic bytes \"{}\", found \"{}\"){hint}",
            escaped(&MAGIC),
            escaped(&bytes[..magic_len])
        )));
    }
    Ok(())
}

/// Checks that the 4-byte format version after the magic is [`FORMAT_VERSION`].
fn check_version(bytes: &[u8], fail: &dyn Fn(String) -> NnError) -> Result<(), NnError> {
    let len = bytes.len();
    if len < 12 {
        return Err(fail(format!(
            "truncated: the file ends after {len} bytes, inside the 4-byte format version \
             that follows the magic"
        )));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        let newer = if version > FORMAT_VERSION {
            " (written by a newer ferrite)"
        } else {
            ""
        };
        return Err(fail(format!(
            "unsupported checkpoint format version {version}{newer}: this build of ferrite \
             reads version {FORMAT_VERSION}"
        )));
    }
    Ok(())
}

/// Checks the rest of the header (element type, payload length) against the file's length;
/// returns the element type and the file's total length.
fn read_header(bytes: &[u8], fail: &dyn Fn(String) -> NnError) -> Result<(Dtype, usize), NnError> {
    let len = bytes.len();
    if len < HEADER_LEN {
        return Err(fail(format!(
            "truncated: the file ends after {len} bytes, inside the {HEADER_LEN}-byte header \
             (magic, version, element type, payload length)"
        )));
    }
    let dtype = match &bytes[12..16] {
        b"f32\0" => Dtype::F32,
        b"f64\0" => Dtype::F64,
        other => {
            return Err(fail(format!(
                "unknown element type tag \"{}\" (expected \"f32\\0\" or \"f64\\0\")",
                escaped(other)
            )));
        }
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[16..24]);
    let payload_len = u64::from_le_bytes(n);
    let total = usize::try_from(payload_len)
        .ok()
        .and_then(|p| p.checked_add(HEADER_LEN + CHECKSUM_LEN));
    let Some(total) = total else {
        return Err(fail(format!(
            "truncated or corrupt: the header announces a payload of {payload_len} bytes, \
             but the file has only {len} bytes"
        )));
    };
    if len < total {
        return Err(fail(format!(
            "truncated: the header announces a {payload_len}-byte payload and an 8-byte \
             checksum ({total} bytes in all), but the file has only {len} bytes ({} missing)",
            total - len
        )));
    }
    if len > total {
        return Err(fail(format!(
            "{} unexpected bytes after the checksum (the header announces {total} bytes in all)",
            len - total
        )));
    }
    Ok((dtype, total))
}

/// Checks the trailing checksum of the `total` bytes; returns the bytes it covers (header
/// and payload).
fn check_checksum<'a>(
    bytes: &'a [u8],
    total: usize,
    fail: &dyn Fn(String) -> NnError,
) -> Result<&'a [u8], NnError> {
    let body = &bytes[..total - CHECKSUM_LEN];
    let mut s = [0u8; 8];
    s.copy_from_slice(&bytes[total - CHECKSUM_LEN..]);
    let stored = u64::from_le_bytes(s);
    let computed = fnv1a64(body);
    if stored != computed {
        return Err(fail(format!(
            "checksum mismatch (stored {stored:016x}, computed {computed:016x}): the file is \
             corrupt"
        )));
    }
    Ok(body)
}

fn wire_tensors(raw: &[(String, Vec<u64>, Vec<u8>)]) -> Vec<WireTensor<'_>> {
    raw.iter()
        .map(|(n, s, d)| WireTensor {
            name: n,
            shape: s.clone(),
            data: d,
        })
        .collect()
}

fn tensors_from_wire<T: Float>(
    wire: &[WireTensor<'_>],
    dtype: Dtype,
    what: &str,
    fail: &dyn Fn(String) -> NnError,
) -> Result<StateDict<T>, NnError> {
    let mut sd = StateDict::new();
    for w in wire {
        let shape: Option<Vec<usize>> = w.shape.iter().map(|&d| usize::try_from(d).ok()).collect();
        let sizes = shape
            .as_ref()
            .and_then(|s| checked_byte_len(s, dtype.size()).map(|n| (s, n)));
        let Some((shape, (_, nbytes))) = sizes else {
            return Err(fail(format!(
                "{what} '{}': shape {:?} is too large (more elements or bytes than a \
                 tensor can address, isize::MAX)",
                w.name, w.shape
            )));
        };
        if nbytes != w.data.len() {
            return Err(fail(format!(
                "{what} '{}': shape {:?} needs {nbytes} bytes of {}, the file holds {}",
                w.name,
                w.shape,
                match dtype {
                    Dtype::F32 => "f32",
                    Dtype::F64 => "f64",
                },
                w.data.len()
            )));
        }
        let tensor = Tensor::from_vec(decode_le_bytes::<T>(w.data, dtype), shape)
            .map_err(|e| fail(format!("{what} '{}': {e}", w.name)))?;
        if sd.insert(w.name, tensor).is_some() {
            return Err(fail(format!("{what} '{}' appears twice", w.name)));
        }
    }
    Ok(sd)
}

/// Writes `bytes` to `path` atomically: see [`write_atomic_with`].
///
/// # Errors
/// [`NnError::Io`] naming `path` (and the stage that failed) when the temporary file
/// cannot be created, written, synced or renamed over `path`. The old file is then
/// untouched and the temporary file removed.
///
/// ```
/// use ferrite_nn::checkpoint::write_atomic;
/// let path = std::env::temp_dir().join(format!("ferrite-doc-atomic-{}.txt", std::process::id()));
/// write_atomic(&path, b"old")?;
/// write_atomic(&path, b"new")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"new");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), NnError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Creates or replaces the file `path` atomically with whatever `write` writes: readers
/// (and the file after a crash) see either the old contents or the new, never a mix.
///
/// `write` gets a temporary file `.<name>.tmp-<pid>-<n>` in the same directory (so that
/// the final rename stays on one file system); the file is then flushed to disk
/// (`sync_all`), given the permissions of the file it replaces, and renamed over `path`,
/// and the directory is synced. If `write` or any step fails, the temporary file is
/// removed and `path` is left as it was.
///
/// # Errors
/// [`NnError::Io`] naming `path` when a step fails, with the error `write` returned.
///
/// ```
/// use ferrite_nn::checkpoint::write_atomic_with;
/// use std::io::Write;
/// let path = std::env::temp_dir().join(format!("ferrite-doc-atomic-with-{}.txt", std::process::id()));
/// write_atomic_with(&path, |f| writeln!(f, "epoch {}", 3))?;
/// // A failing writer leaves the old file in place.
/// let err = write_atomic_with(&path, |f| {
///     f.write_all(b"half a file")?;
///     Err(std::io::Error::other("encoder failed"))
/// });
/// assert!(err.is_err());
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch 3\n");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
pub fn write_atomic_with<F>(path: impl AsRef<Path>, write: F) -> Result<(), NnError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let path = path.as_ref();
    let Some(file_name) = path.file_name() else {
        return Err(NnError::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a path to a file"),
        ));
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (tmp_path, file) = create_temp_file(path, dir, file_name)?;
    match fill_and_rename(path, &tmp_path, file, write) {
        Ok(()) => {
            // Make the rename itself durable (best effort: not every platform can open or
            // sync a directory).
            #[cfg(unix)]
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp_path);
            Err(NnError::io(path, e))
        }
    }
}

/// Creates a fresh temporary file `.<file_name>.tmp-<pid>-<n>` in `dir` (create_new: never
/// follows or clobbers an existing one); errors name `path`.
fn create_temp_file(
    path: &Path,
    dir: &Path,
    file_name: &OsStr,
) -> Result<(PathBuf, File), NnError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut attempt = 0;
    loop {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp_path = dir.join(tmp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
        {
            Ok(f) => return Ok((tmp_path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => {
                return Err(NnError::io(
                    path,
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot create the temporary file {}: {e}",
                            tmp_path.display()
                        ),
                    ),
                ));
            }
        }
    }
}

/// Runs `write` on the temporary file, gives it the old file's permissions, syncs it and
/// renames it over `path`; each error says which stage failed.
fn fill_and_rename<F>(path: &Path, tmp_path: &Path, mut file: File, write: F) -> io::Result<()>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let stage =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    write(&mut file).map_err(stage("writing failed"))?;
    let old = fs::metadata(path).ok().filter(fs::Metadata::is_file);
    if let Some(old) = old {
        file.set_permissions(old.permissions())
            .map_err(stage("cannot copy the permissions of the old file"))?;
    }
    file.sync_all().map_err(stage("cannot flush to disk"))?;
    drop(file);
    fs::rename(tmp_path, path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot rename {} over it: {e}", tmp_path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn header_layout() {
        let mut sd = StateDict::<f32>::new();
        sd.insert("w", Tensor::full(&[2], 1.5));
        let bytes = Checkpoint::new(sd).to_bytes().unwrap();
        assert_eq!(&bytes[..8], b"FERRITE\0");
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[12..16], b"f32\0");
        let n = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), 24 + n + 8);
        let sum = u64::from_le_bytes(bytes[24 + n..].try_into().unwrap());
        assert_eq!(sum, fnv1a64(&bytes[..24 + n]));
        // The tensor's data is stored raw, little-endian.
        let raw: Vec<u8> = [1.5f32, 1.5].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert!(bytes.windows(8).any(|w| w == raw.as_slice()));
    }

    /// A payload that passes the checksum but lies about lengths must be an error, not an
    /// allocation of the announced size.
    #[test]
    fn crafted_lengths_behind_a_valid_checksum_are_errors() {
        let forge = |payload: &[u8]| {
            let mut out = Vec::new();
            out.extend_from_slice(&MAGIC);
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(b"f32\0");
            out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            out.extend_from_slice(payload);
            let sum = fnv1a64(&out);
            out.extend_from_slice(&sum.to_le_bytes());
            out
        };
        // epoch 0, then a params sequence announcing 2^64-1 tensors (varint 0xFD + u64).
        let mut p = vec![0u8, 0xfd];
        p.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(Checkpoint::<f32>::from_bytes(&forge(&p), "x").is_err());
        // One tensor whose name announces 2^62 bytes.
        let mut p = vec![0u8, 1, 0xfd];
        p.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(Checkpoint::<f32>::from_bytes(&forge(&p), "x").is_err());
        // One tensor "w" of shape [2^40] with 4 bytes of data.
        let mut p = vec![0u8, 1, 1, b'w', 1, 0xfd];
        p.extend_from_slice(&(1u64 << 40).to_le_bytes());
        p.extend_from_slice(&[4, 0, 0, 0, 0]);
        p.extend_from_slice(&[0, 0, 0, 0]);
        let err = Checkpoint::<f32>::from_bytes(&forge(&p), "x").unwrap_err();
        assert!(err.to_string().contains("parameter 'w'"), "{err}");
        // A shape whose product overflows.
        let mut p = vec![0u8, 1, 1, b'w', 2, 0xfd];
        p.extend_from_slice(&u64::MAX.to_le_bytes());
        p.push(0xfd);
        p.extend_from_slice(&u64::MAX.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&[0, 0, 0, 0]);
        let err = Checkpoint::<f32>::from_bytes(&forge(&p), "x").unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn optimizer_state_with_a_crafted_string_length_is_an_error() {
        let mut c = Checkpoint::<f32>::default();
        let mut blob = vec![0xfd];
        blob.extend_from_slice(&(1u64 << 60).to_le_bytes());
        c.optimizer = Some(blob);
        assert!(c.optimizer_state::<String>().is_err());
        c.set_optimizer_state("hello").unwrap();
        assert_eq!(
            c.optimizer_state::<String>().unwrap().as_deref(),
            Some("hello")
        );
        // Bytes left over.
        c.optimizer.as_mut().unwrap().push(0);
        assert!(c.optimizer_state::<String>().is_err());
    }
}
