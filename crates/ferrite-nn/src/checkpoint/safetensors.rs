//! The safetensors format: parameters exchanged with PyTorch (`safetensors.torch`) and the
//! rest of the ecosystem.
//!
//! A file is an 8-byte little-endian header length `n`, `n` bytes of JSON mapping each
//! tensor's name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the
//! data that follows; an optional `"__metadata__"` maps strings to strings), then the raw
//! little-endian tensor data. ferrite writes `F32` or `F64` (the precision of the state
//! dict) and reads both, converting to the requested precision. It also reads `I64` and
//! `I32` tensors whose values the float type represents exactly (PyTorch saves BatchNorm's
//! `num_batches_tracked` counter as `I64`; ferrite keeps it as a float buffer, and PyTorch
//! converts it back on `load_state_dict`). Other dtypes (`F16`, `BF16`, `U8`, `BOOL`, ...)
//! are refused with a message naming them.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use ferrite_tensor::{Float, Tensor};
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::state_dict::StateDict;
use super::{Dtype, checked_byte_len, decode_le_bytes, extend_le_bytes, write_atomic};
use crate::NnError;

/// The largest JSON header accepted (the reference implementation's limit).
const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// The reserved key of the header's string-to-string metadata.
const METADATA_KEY: &str = "__metadata__";

/// The element types read from safetensors files: the two float types, and the integer
/// types of PyTorch's counters (BatchNorm's `num_batches_tracked` is `I64`), converted to
/// floats when every value is exactly representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileDtype {
    Float(Dtype),
    I64,
    I32,
}

impl FileDtype {
    fn parse(name: &str) -> Option<FileDtype> {
        match name {
            "F32" => Some(FileDtype::Float(Dtype::F32)),
            "F64" => Some(FileDtype::Float(Dtype::F64)),
            "I64" => Some(FileDtype::I64),
            "I32" => Some(FileDtype::I32),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            FileDtype::Float(d) => d.size(),
            FileDtype::I64 => 8,
            FileDtype::I32 => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileDtype::Float(d) => dtype_name(d),
            FileDtype::I64 => "I64",
            FileDtype::I32 => "I32",
        }
    }
}

/// The integers in `bytes` (little-endian `I64` or `I32`) as `T`, or the first one that
/// `T` cannot represent exactly.
pub(super) fn decode_ints<T: Float>(bytes: &[u8], dtype: FileDtype) -> Result<Vec<T>, i64> {
    let size = dtype.size();
    bytes
        .chunks_exact(size)
        .map(|c| {
            let v = if size == 8 {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                i64::from_le_bytes(b)
            } else {
                i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            };
            // Exact when v survives the round trip through f64 (compared in i128, as the
            // cast back saturates) and then through T.
            let f = v as f64;
            let t = T::of(f);
            if f as i128 == i128::from(v) && t.as_f64() == f {
                Ok(t)
            } else {
                Err(v)
            }
        })
        .collect()
}

fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "F32",
        Dtype::F64 => "F64",
    }
}

fn encode<T: Float>(state: &StateDict<T>, label: &str) -> Result<Vec<u8>, NnError> {
    let dtype = Dtype::of::<T>();
    let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut offset = 0usize;
    for (name, tensor) in state.iter() {
        if name == METADATA_KEY {
            return Err(NnError::format(
                label,
                format!("a tensor cannot be called '{METADATA_KEY}' in a safetensors file"),
            ));
        }
        let nbytes = tensor.numel() * dtype.size();
        let shape: Vec<String> = tensor.shape().iter().map(|d| d.to_string()).collect();
        // serde_json escapes the name as a JSON string.
        let quoted = serde_json::to_string(name)
            .map_err(|e| NnError::format(label, format!("cannot encode the name '{name}': {e}")))?;
        header.push_str(&format!(
            ",{quoted}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            dtype_name(dtype),
            shape.join(","),
            offset,
            offset + nbytes
        ));
        offset += nbytes;
    }
    header.push('}');
    // Pad with spaces so that the data starts 8-byte aligned, as the reference writer does.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, tensor) in state.iter() {
        extend_le_bytes(tensor, dtype, &mut out);
    }
    Ok(out)
}

/// The bytes of a safetensors file holding `state` (see [`save_safetensors`]).
///
/// # Errors
/// [`NnError::Format`] when a tensor is called `__metadata__` (reserved by the format).
///
/// ```
/// use ferrite_nn::checkpoint::{from_safetensors_bytes, to_safetensors_bytes};
/// use ferrite_nn::StateDict;
/// use ferrite_tensor::Tensor;
/// let mut sd = StateDict::<f64>::new();
/// sd.insert("w", Tensor::full(&[2, 2], 0.25));
/// let bytes = to_safetensors_bytes(&sd)?;
/// assert!(String::from_utf8_lossy(&bytes).contains("\"dtype\":\"F64\""));
/// assert_eq!(from_safetensors_bytes::<f64>(&bytes, "in memory")?, sd);
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
pub fn to_safetensors_bytes<T: Float>(state: &StateDict<T>) -> Result<Vec<u8>, NnError> {
    encode(state, "safetensors")
}

/// Saves `state` as a safetensors file at `path`, atomically (see
/// [`write_atomic`](super::write_atomic)).
///
/// The tensors are written in the state dict's order with dtype `F32` (for `T = f32`) or
/// `F64`, in PyTorch's layouts (which are ferrite's), with the metadata
/// `{"format": "pt"}`. PyTorch reads the file with `safetensors.torch.load_file(path)` and
/// `model.load_state_dict(..., strict=True)`.
///
/// # Errors
/// [`NnError::Format`] when a tensor is called `__metadata__`; [`NnError::Io`] when the
/// file cannot be written (an existing file is then left untouched).
///
/// ```
/// use ferrite_nn::checkpoint::{load_safetensors, save_safetensors};
/// use ferrite_nn::{state_dict, Linear, Sequential};
/// let model = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2));
/// let path = std::env::temp_dir().join(format!("ferrite-doc-st-{}.safetensors", std::process::id()));
/// save_safetensors(&state_dict(&model), &path)?;
/// assert_eq!(load_safetensors::<f32>(&path)?, state_dict(&model));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
pub fn save_safetensors<T: Float>(
    state: &StateDict<T>,
    path: impl AsRef<Path>,
) -> Result<(), NnError> {
    let path = path.as_ref();
    let bytes = encode(state, &path.display().to_string())?;
    write_atomic(path, &bytes)
}

/// Reads a safetensors file into a [`StateDict`], converting `F32` or `F64` tensors (and
/// exactly representable `I64`/`I32` ones) to `T`.
///
/// The entries are in the order of their data in the file (for files written by ferrite,
/// the order of the saved state dict; PyTorch's writer sorts them by name).
///
/// # Errors
/// [`NnError::Io`] when the file cannot be read; otherwise as
/// [`from_safetensors_bytes`], with the path in the message.
///
/// ```
/// use ferrite_nn::checkpoint::load_safetensors;
/// assert!(load_safetensors::<f32>("/no/such/file.safetensors").is_err());
/// ```
pub fn load_safetensors<T: Float>(path: impl AsRef<Path>) -> Result<StateDict<T>, NnError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    from_safetensors_bytes(&bytes, &path.display().to_string())
}

/// The header's entries in file order, refusing a repeated key (which a plain JSON map
/// would silently collapse).
struct HeaderEntries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for HeaderEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = HeaderEntries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to their descriptions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderEntries, A::Error> {
                let mut entries = Vec::new();
                let mut seen = HashSet::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if !seen.insert(key.clone()) {
                        return Err(A::Error::custom(format!("key '{key}' appears twice")));
                    }
                    entries.push((key, value));
                }
                Ok(HeaderEntries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// One tensor's description in the header.
#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Reads the bytes of a safetensors file (see [`load_safetensors`]); `name` (a path or any
/// label) is used in error messages.
///
/// # Errors
/// [`NnError::Format`] naming `name` when the file is truncated, its header length is
/// larger than the file or than 100 MiB, the header is not a JSON object of well-formed
/// tensor entries (or repeats a key), a dtype is not `F32`, `F64`, `I64` or `I32` (the
/// message names it), an integer is not exactly representable in `T` (the message names
/// it), a tensor's byte range is not inside the data, its size is not its shape's
/// product times the dtype's size, or the ranges overlap or leave bytes uncovered. Never
/// panics, and never allocates more than a small multiple of `bytes.len()`.
///
/// ```
/// use ferrite_nn::checkpoint::from_safetensors_bytes;
/// let header = br#"{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#;
/// let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
/// bytes.extend_from_slice(header);
/// bytes.extend_from_slice(&[0, 0]);
/// let err = from_safetensors_bytes::<f32>(&bytes, "half.safetensors").unwrap_err();
/// assert!(err.to_string().contains("dtype F16"), "{err}");
/// ```
pub fn from_safetensors_bytes<T: Float>(bytes: &[u8], name: &str) -> Result<StateDict<T>, NnError> {
    let fail = |message: String| NnError::format(name, message);
    let (header, data) = split_header(bytes, &fail)?;
    let mut tensors = Vec::new();
    for (key, value) in parse_header_entries(header, &fail)? {
        if key == METADATA_KEY {
            check_metadata(&value, &fail)?;
            continue;
        }
        tensors.push(parse_tensor_entry(key, value, data.len(), &fail)?);
    }
    check_tiling(&mut tensors, data.len(), &fail)?;
    decode_entries(tensors, data, &fail)
}

/// One tensor of the header, checked against the data: `data[begin..end]` holds it.
struct Entry {
    key: String,
    dtype: FileDtype,
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

/// Checks the 8-byte header length against the file and the limit; returns the header
/// and the data that follows it.
fn split_header<'a>(
    bytes: &'a [u8],
    fail: &dyn Fn(String) -> NnError,
) -> Result<(&'a [u8], &'a [u8]), NnError> {
    let len = bytes.len();
    if len < 8 {
        return Err(fail(format!(
            "truncated: a safetensors file starts with an 8-byte header length, the file has \
             only {len} bytes"
        )));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    let header_len = u64::from_le_bytes(n);
    let available = (len - 8) as u64;
    if header_len > available {
        return Err(fail(if header_len > MAX_HEADER_LEN {
            format!(
                "header length {header_len} is implausible (the file has {len} bytes; the limit \
                 is {MAX_HEADER_LEN}): not a safetensors file, or a corrupt one"
            )
        } else {
            format!(
                "truncated: the header announces {header_len} bytes of JSON, but only \
                 {available} bytes follow the length"
            )
        }));
    }
    if header_len > MAX_HEADER_LEN {
        return Err(fail(format!(
            "header length {header_len} is larger than the limit of {MAX_HEADER_LEN} bytes"
        )));
    }
    let header_end = 8 + header_len as usize;
    Ok((&bytes[8..header_end], &bytes[header_end..]))
}

/// Checks that the header is a JSON object without repeated keys; returns its entries in
/// file order.
fn parse_header_entries(
    header: &[u8],
    fail: &dyn Fn(String) -> NnError,
) -> Result<Vec<(String, serde_json::Value)>, NnError> {
    if header.first() != Some(&b'{') {
        return Err(fail(format!(
            "the header does not start with '{{' (found \"{}\"): not a safetensors file",
            header[..header.len().min(16)].escape_ascii()
        )));
    }
    let entries = serde_json::from_slice::<HeaderEntries>(header)
        .map_err(|e| {
            fail(format!(
                "the header is not valid JSON of the expected form: {e}"
            ))
        })?
        .0;
    Ok(entries)
}

/// Checks that the `__metadata__` entry maps strings to strings.
fn check_metadata(
    value: &serde_json::Value,
    fail: &dyn Fn(String) -> NnError,
) -> Result<(), NnError> {
    let ok = value
        .as_object()
        .is_some_and(|m| m.values().all(serde_json::Value::is_string));
    if !ok {
        return Err(fail(format!(
            "'{METADATA_KEY}' must map strings to strings, found {value}"
        )));
    }
    Ok(())
}

/// Checks one tensor's description: a known dtype, an addressable shape, and a byte range
/// inside the `data_len` bytes of data whose size matches the shape.
fn parse_tensor_entry(
    key: String,
    value: serde_json::Value,
    data_len: usize,
    fail: &dyn Fn(String) -> NnError,
) -> Result<Entry, NnError> {
    let info: TensorInfo = serde_json::from_value(value)
        .map_err(|e| fail(format!("tensor '{key}': malformed description: {e}")))?;
    let Some(dtype) = FileDtype::parse(&info.dtype) else {
        return Err(fail(format!(
            "tensor '{key}' has dtype {}; ferrite reads F32 and F64 (and I64 or I32 \
             integers that the float type represents exactly): convert it before saving, \
             e.g. with `.float()` in PyTorch",
            info.dtype
        )));
    };
    let (shape, nbytes) = checked_shape(&key, &info.shape, dtype, fail)?;
    let [begin, end] = info.data_offsets;
    if begin > end || end > data_len as u64 {
        return Err(fail(format!(
            "tensor '{key}': data_offsets [{begin}, {end}] are not a range inside the \
             {data_len} bytes of data"
        )));
    }
    let (begin, end) = (begin as usize, end as usize);
    if end - begin != nbytes {
        return Err(fail(format!(
            "tensor '{key}': {} {:?} needs {nbytes} bytes, data_offsets [{begin}, {end}] \
             hold {}",
            info.dtype,
            shape,
            end - begin
        )));
    }
    Ok(Entry {
        key,
        dtype,
        shape,
        begin,
        end,
    })
}

/// Checks that a tensor's shape is addressable; returns it and its size in bytes.
fn checked_shape(
    key: &str,
    shape: &[u64],
    dtype: FileDtype,
    fail: &dyn Fn(String) -> NnError,
) -> Result<(Vec<usize>, usize), NnError> {
    let dims: Option<Vec<usize>> = shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    let sizes = dims.and_then(|s| {
        let (_, nbytes) = checked_byte_len(&s, dtype.size())?;
        Some((s, nbytes))
    });
    sizes.ok_or_else(|| {
        fail(format!(
            "tensor '{key}': shape {shape:?} is too large (more elements or bytes than a \
             tensor can address, isize::MAX)"
        ))
    })
}

/// Checks that the tensors' ranges tile the data exactly: no overlap, no gap, nothing left
/// over. Sorts `tensors` by range.
fn check_tiling(
    tensors: &mut [Entry],
    data_len: usize,
    fail: &dyn Fn(String) -> NnError,
) -> Result<(), NnError> {
    tensors.sort_by(|a, b| (a.begin, a.end, &a.key).cmp(&(b.begin, b.end, &b.key)));
    let mut covered = 0usize;
    let mut previous: Option<&str> = None;
    for Entry {
        key, begin, end, ..
    } in tensors.iter()
    {
        if *begin < covered {
            return Err(fail(format!(
                "the data of tensors '{}' and '{key}' overlap (bytes {begin}..{covered})",
                previous.unwrap_or_default()
            )));
        }
        if *begin > covered {
            return Err(fail(format!(
                "bytes {covered}..{begin} of the data belong to no tensor"
            )));
        }
        covered = *end;
        previous = Some(key);
    }
    if covered != data_len {
        return Err(fail(format!(
            "bytes {covered}..{data_len} of the data belong to no tensor"
        )));
    }
    Ok(())
}

/// Decodes each tensor's bytes into `T`, checking that integers are exactly representable.
fn decode_entries<T: Float>(
    tensors: Vec<Entry>,
    data: &[u8],
    fail: &dyn Fn(String) -> NnError,
) -> Result<StateDict<T>, NnError> {
    let mut state = StateDict::new();
    for Entry {
        key,
        dtype,
        shape,
        begin,
        end,
    } in tensors
    {
        let bytes = &data[begin..end];
        let values = match dtype {
            FileDtype::Float(d) => decode_le_bytes::<T>(bytes, d),
            FileDtype::I64 | FileDtype::I32 => decode_ints::<T>(bytes, dtype).map_err(|v| {
                fail(format!(
                    "tensor '{key}' ({}) holds {v}, which {} cannot represent exactly",
                    dtype.name(),
                    T::NAME
                ))
            })?,
        };
        let tensor =
            Tensor::from_vec(values, &shape).map_err(|e| fail(format!("tensor '{key}': {e}")))?;
        state.insert(key, tensor);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_and_in_state_dict_order() {
        let mut sd = StateDict::<f32>::new();
        sd.insert("z.weight", Tensor::ones(&[3]));
        sd.insert("a.bias", Tensor::zeros(&[1]));
        let bytes = to_safetensors_bytes(&sd).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        assert_eq!(bytes.len(), 8 + n + 16);
        let back = from_safetensors_bytes::<f32>(&bytes, "x").unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["z.weight", "a.bias"]);
    }

    #[test]
    fn reserved_name_is_refused() {
        let mut sd = StateDict::<f32>::new();
        sd.insert(METADATA_KEY, Tensor::ones(&[1]));
        assert!(to_safetensors_bytes(&sd).is_err());
    }

    #[test]
    fn names_needing_escapes_round_trip() {
        let mut sd = StateDict::<f64>::new();
        sd.insert("we\"ird\\na\u{e9}me\n", Tensor::ones(&[1]));
        sd.insert("", Tensor::scalar(2.0));
        let back = from_safetensors_bytes::<f64>(&to_safetensors_bytes(&sd).unwrap(), "x").unwrap();
        assert_eq!(back, sd);
    }
}
