//! The IDX file format of MNIST: a small header followed by a dense array of bytes.
//!
//! Layout (all integers big-endian):
//!
//! | bytes | contents |
//! |-------|----------|
//! | 0–1   | `0x00 0x00` |
//! | 2     | element type: `0x08` unsigned byte (the only one MNIST uses) |
//! | 3     | number of dimensions `d` |
//! | 4 ..  | `d` sizes, one `u32` each |
//! | then  | the elements, row-major, one byte each for `0x08` |
//!
//! A file that starts with the gzip magic bytes `1f 8b` is decompressed first, whatever its
//! name. The reader checks the header, computes the data size with overflow checks, and
//! requires exactly that many bytes to follow: it never allocates more than the file can
//! justify, and never panics on a malformed file.

use std::io::{self, Read};
use std::path::Path;

use super::DataError;

/// The IDX type code of unsigned bytes, the element type of MNIST.
pub(crate) const IDX_U8: u8 = 0x08;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The largest expansion factor of deflate (a deflate stream of `n` bytes never
/// decompresses to more than about `1032 * n` bytes): bounds what a gzip file can justify.
const DEFLATE_MAX_RATIO: usize = 1032;

/// An array read from an IDX file: its dimensions and its bytes, row-major.
///
/// Only the unsigned-byte element type (`0x08`) is supported, so `data` holds one byte per
/// element and `data.len()` is the product of `dims`.
///
/// ```
/// use ferrite_nn::data::parse_idx;
/// // Magic 0x00000802 (bytes, 2 dimensions), dims [2, 3], then 6 bytes.
/// let bytes = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
/// let array = parse_idx(&bytes, "tiny")?;
/// assert_eq!(array.dims, vec![2, 3]);
/// assert_eq!(array.data, vec![1, 2, 3, 4, 5, 6]);
/// assert_eq!(array.len(), 6);
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The size of each dimension, outermost first (`[n, rows, cols]` for MNIST images).
    pub dims: Vec<usize>,
    /// The elements, row-major, one byte each.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The number of elements (the product of `dims`, `1` for zero dimensions).
    ///
    /// ```
    /// use ferrite_nn::data::IdxArray;
    /// let a = IdxArray { dims: vec![2, 2], data: vec![0; 4] };
    /// assert_eq!(a.len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array holds no element (some dimension is zero).
    ///
    /// ```
    /// use ferrite_nn::data::IdxArray;
    /// assert!(IdxArray { dims: vec![0, 28, 28], data: vec![] }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The IDX magic number of this array: `0x0000_08NN` where `NN` is the number of
    /// dimensions (`0x00000803` for MNIST images, `0x00000801` for labels).
    ///
    /// ```
    /// use ferrite_nn::data::IdxArray;
    /// assert_eq!(IdxArray { dims: vec![3], data: vec![0; 3] }.magic(), 0x0000_0801);
    /// ```
    pub fn magic(&self) -> u32 {
        (u32::from(IDX_U8) << 8) | (self.dims.len() as u32 & 0xff)
    }
}

/// Reads an IDX file, gzip-compressed or not (detected by its first two bytes).
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read; [`DataError::Format`] (naming the file)
/// when its contents are not a well-formed unsigned-byte IDX array: see [`parse_idx`].
///
/// ```
/// use ferrite_nn::data::{read_idx, DataError};
/// let path = std::env::temp_dir().join(format!("ferrite-doc-{}.idx", std::process::id()));
/// std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 2, 7, 9]).unwrap();
/// let labels = read_idx(&path)?;
/// assert_eq!((labels.dims, labels.data), (vec![2], vec![7, 9]));
/// std::fs::remove_file(&path).unwrap();
///
/// let err = read_idx(std::path::Path::new("no/such/file")).unwrap_err();
/// assert!(matches!(err, DataError::Io { .. }));
/// # Ok::<(), DataError>(())
/// ```
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Parses the bytes of an IDX file (gzip-compressed or not); `name` is used in messages.
///
/// # Errors
/// [`DataError::Format`] when the magic number is wrong, the element type is not `0x08`
/// (unsigned byte), the dimensions overflow, the data is shorter (truncated) or longer
/// (trailing bytes) than the header says, or the gzip stream is corrupt. The claimed size is
/// checked against the bytes actually present before anything of that size is allocated.
///
/// ```
/// use ferrite_nn::data::parse_idx;
/// let err = parse_idx(&[0, 0, 8, 1, 0, 0, 0, 5, 1, 2], "labels.idx").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "labels.idx: truncated: header says dims [5] (5 bytes) but only 2 bytes follow"
/// );
/// let err = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "floats.idx").unwrap_err();
/// assert!(err.to_string().contains("unsupported element type 0x0D (32-bit float)"));
/// ```
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<IdxArray, DataError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut decoder = flate2::bufread::MultiGzDecoder::new(bytes);
        let header = read_header(&mut decoder, name, true)?;
        // Reserve no more than the compressed size could possibly expand to.
        let capacity = header
            .data_len
            .min(bytes.len().saturating_mul(DEFLATE_MAX_RATIO));
        let mut data = Vec::with_capacity(capacity);
        // One byte more than expected tells trailing data apart from the exact size; reading
        // to the end of the stream when it is exact also checks the gzip CRC.
        let limit = (header.data_len as u64).saturating_add(1);
        decoder
            .take(limit)
            .read_to_end(&mut data)
            .map_err(|e| gzip_error(name, &e))?;
        check_data_len(&header, data.len(), name, true)?;
        Ok(IdxArray {
            dims: header.dims,
            data,
        })
    } else {
        let mut rest = bytes;
        let header = read_header(&mut rest, name, false)?;
        check_data_len(&header, rest.len(), name, false)?;
        Ok(IdxArray {
            dims: header.dims,
            data: rest.to_vec(),
        })
    }
}

/// A checked IDX header.
struct Header {
    dims: Vec<usize>,
    /// The number of data bytes the header announces.
    data_len: usize,
}

fn format_error(name: &str, message: String) -> DataError {
    DataError::Format {
        path: name.to_string(),
        message,
    }
}

fn gzip_error(name: &str, e: &io::Error) -> DataError {
    format_error(name, format!("corrupt or truncated gzip stream: {e}"))
}

/// Reads into `buf` until it is full or the input ends; returns how many bytes were read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The name of an IDX element type, for messages.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => "not an IDX type",
    }
}

fn read_header<R: Read>(reader: &mut R, name: &str, gzip: bool) -> Result<Header, DataError> {
    let what = if gzip { "decompressed data" } else { "file" };
    let mut magic = [0u8; 4];
    let got = read_up_to(reader, &mut magic).map_err(|e| gzip_error(name, &e))?;
    if got < magic.len() {
        return Err(format_error(
            name,
            format!(
                "truncated: the {what} has {got} bytes, too short for the 4-byte IDX magic number"
            ),
        ));
    }
    let magic_value = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(format_error(
            name,
            format!(
                "expected an IDX magic number 0x000008NN (two zero bytes, type 0x08, number of \
                 dimensions), found 0x{magic_value:08X}"
            ),
        ));
    }
    let (type_code, ndim) = (magic[2], usize::from(magic[3]));
    if type_code != IDX_U8 {
        return Err(format_error(
            name,
            format!(
                "unsupported element type 0x{type_code:02X} ({}) in magic number \
                 0x{magic_value:08X}; only 0x08 (unsigned byte) is supported",
                type_name(type_code)
            ),
        ));
    }
    let mut raw_dims = vec![0u8; 4 * ndim]; // at most 1020 bytes
    let got = read_up_to(reader, &mut raw_dims).map_err(|e| gzip_error(name, &e))?;
    if got < raw_dims.len() {
        return Err(format_error(
            name,
            format!(
                "truncated: the magic number 0x{magic_value:08X} announces {ndim} dimensions \
                 ({} bytes of sizes) but only {got} bytes follow it",
                raw_dims.len()
            ),
        ));
    }
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let data_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            format_error(
                name,
                format!("dims {dims:?} describe more elements than this machine can address"),
            )
        })?;
    Ok(Header { dims, data_len })
}

fn check_data_len(header: &Header, found: usize, name: &str, gzip: bool) -> Result<(), DataError> {
    let (dims, expected) = (&header.dims, header.data_len);
    if found < expected {
        return Err(format_error(
            name,
            format!(
                "truncated: header says dims {dims:?} ({expected} bytes) but only {found} bytes follow"
            ),
        ));
    }
    if found > expected {
        let more = if gzip {
            // Only one byte past the expected size was decompressed.
            "more".to_string()
        } else {
            found.to_string()
        };
        return Err(format_error(
            name,
            format!(
                "trailing data: header says dims {dims:?} ({expected} bytes) but {more} bytes follow"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{gzip, idx_bytes, temp_dir};

    fn message(result: Result<IdxArray, DataError>) -> String {
        match result {
            Ok(a) => panic!("expected an error, got {a:?}"),
            Err(e) => {
                assert!(matches!(e, DataError::Format { .. }), "{e:?}");
                e.to_string()
            }
        }
    }

    #[test]
    fn parses_raw_and_gzipped_arrays() {
        let data: Vec<u8> = (0..24).collect();
        let raw = idx_bytes(&[2, 3, 4], &data);
        let a = parse_idx(&raw, "raw").unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert_eq!(a.magic(), 0x0803);

        // gzip is detected by content, not by name.
        let gz = gzip(&raw);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(parse_idx(&gz, "no-extension").unwrap(), a);

        let labels = parse_idx(&gzip(&idx_bytes(&[3], &[7, 0, 9])), "l.gz").unwrap();
        assert_eq!((labels.dims, labels.data), (vec![3], vec![7, 0, 9]));
    }

    #[test]
    fn parses_empty_and_zero_dimensional_arrays() {
        let empty = parse_idx(&idx_bytes(&[0, 28, 28], &[]), "e").unwrap();
        assert_eq!(empty.dims, vec![0, 28, 28]);
        assert!(empty.is_empty());
        let scalar = parse_idx(&idx_bytes(&[], &[42]), "s").unwrap();
        assert_eq!((scalar.dims.len(), scalar.data), (0, vec![42]));
    }

    #[test]
    fn rejects_bad_magic() {
        let mut bytes = idx_bytes(&[2], &[1, 2]);
        bytes[0] = 0x50; // e.g. a PNG or text file
        let m = message(parse_idx(&bytes, "x.idx"));
        assert!(m.starts_with("x.idx: expected an IDX magic number"), "{m}");
        assert!(m.contains("found 0x50000801"), "{m}");

        let mut bytes = idx_bytes(&[2], &[1, 2]);
        bytes[1] = 1;
        assert!(message(parse_idx(&bytes, "x")).contains("found 0x00010801"));
    }

    #[test]
    fn rejects_unsupported_types() {
        for (code, name) in [
            (0x0Du8, "32-bit float"),
            (0x0C, "32-bit integer"),
            (0x42, "not an IDX type"),
        ] {
            let mut bytes = idx_bytes(&[1], &[0, 0, 0, 0]);
            bytes[2] = code;
            let m = message(parse_idx(&bytes, "t"));
            assert!(
                m.contains(&format!("unsupported element type 0x{code:02X} ({name})")),
                "{m}"
            );
            assert!(m.contains("only 0x08 (unsigned byte) is supported"), "{m}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data: Vec<u8> = (0..12).collect();
        let raw = idx_bytes(&[3, 2, 2], &data);
        for cut in 0..raw.len() {
            let m = message(parse_idx(&raw[..cut], "cut"));
            assert!(m.starts_with("cut: truncated: "), "cut at {cut}: {m}");
        }
        let gz = gzip(&raw);
        for cut in 0..gz.len() {
            // A prefix of one byte is not gzip (one magic byte only) and must still fail.
            assert!(
                parse_idx(&gz[..cut], "cut.gz").is_err(),
                "gzip cut at {cut}"
            );
        }
        // A complete stream of a truncated file is reported as truncated data.
        let m = message(parse_idx(&gzip(&raw[..raw.len() - 1]), "short.gz"));
        assert!(
            m.contains("truncated: header says dims [3, 2, 2] (12 bytes) but only 11 bytes follow"),
            "{m}"
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut raw = idx_bytes(&[2], &[1, 2]);
        raw.push(3);
        let m = message(parse_idx(&raw, "long"));
        assert_eq!(
            m,
            "long: trailing data: header says dims [2] (2 bytes) but 3 bytes follow"
        );
        let m = message(parse_idx(&gzip(&raw), "long.gz"));
        assert!(
            m.contains("trailing data: header says dims [2] (2 bytes) but more bytes follow"),
            "{m}"
        );
    }

    #[test]
    fn rejects_corrupt_gzip() {
        let mut gz = gzip(&idx_bytes(&[4], &[1, 2, 3, 4]));
        let n = gz.len();
        gz[n - 8] ^= 0xff; // CRC of the trailer
        let m = message(parse_idx(&gz, "crc.gz"));
        assert!(m.contains("corrupt or truncated gzip stream"), "{m}");
    }

    #[test]
    fn huge_claims_fail_before_allocating() {
        // 10^12 elements claimed, 10 present: must be a quick error, not an allocation.
        let raw = idx_bytes(&[1_000_000, 1_000_000], &[0; 10]);
        let m = message(parse_idx(&raw, "huge"));
        assert!(
            m.contains("1000000000000 bytes) but only 10 bytes follow"),
            "{m}"
        );
        let m = message(parse_idx(&gzip(&raw), "huge.gz"));
        assert!(m.contains("but only 10 bytes follow"), "{m}");

        // A product that does not fit in usize.
        let raw = idx_bytes(&[u32::MAX; 4], &[]);
        let m = message(parse_idx(&raw, "overflow"));
        assert!(
            m.contains("more elements than this machine can address"),
            "{m}"
        );

        // 255 dimensions (the most a header can hold) of size 2.
        let raw = idx_bytes(&[2; 255], &[]);
        assert!(parse_idx(&raw, "many").is_err());
    }

    #[test]
    fn read_idx_reads_files_and_reports_io_errors() {
        let dir = temp_dir("idx");
        let path = dir.join("labels.bin");
        std::fs::write(&path, gzip(&idx_bytes(&[2], &[3, 4]))).unwrap();
        let a = read_idx(&path).unwrap();
        assert_eq!(a.data, vec![3, 4]);

        std::fs::write(&path, [0, 0, 8]).unwrap();
        let e = read_idx(&path).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("truncated"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = dir.join("missing.idx");
        match read_idx(&missing) {
            Err(DataError::Io { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
    }
}
