//! A reader for the zip archives that `torch.save` writes: stored (uncompressed) entries
//! found through the central directory, with ZIP64 records for large archives.
//!
//! Every offset and length read from the archive is checked against the bytes present
//! before it is used, and nothing is allocated in proportion to a length field (the entry
//! list grows as entries are actually parsed). CRC-32 checksums are not verified: PyTorch
//! can write archives without them (`torch.serialization.config.save.compute_crc32`).

use crate::NnError;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// The fixed part of the end-of-central-directory record.
const EOCD_LEN: usize = 22;
/// The fixed part of a central directory header.
const CENTRAL_LEN: usize = 46;
/// The fixed part of a local file header.
const LOCAL_LEN: usize = 30;
/// The extra field that holds an entry's 64-bit sizes and offset.
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// One entry of the central directory.
#[derive(Debug, Clone)]
pub(super) struct ZipEntry {
    pub name: String,
    method: u16,
    compressed_size: u64,
    uncompressed_size: u64,
    local_offset: u64,
}

/// An archive's entries, borrowing the archive's bytes.
pub(super) struct ZipArchive<'a> {
    bytes: &'a [u8],
    pub entries: Vec<ZipEntry>,
}

/// Little-endian reads that fail instead of panicking at the end of the input.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at(bytes: &'a [u8], pos: usize) -> Self {
        Cursor { bytes, pos }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
}

/// The directory's position: where it starts, its size in bytes and its entry count.
struct Directory {
    offset: u64,
    size: u64,
    count: u64,
}

impl<'a> ZipArchive<'a> {
    /// Reads the central directory of the archive in `bytes`.
    pub fn parse(bytes: &'a [u8], fail: &dyn Fn(String) -> NnError) -> Result<Self, NnError> {
        let eocd = find_end_of_directory(bytes).ok_or_else(|| {
            fail(format!(
                "truncated or corrupt zip archive: no end-of-central-directory record in its \
                 last {} bytes (the file has {} bytes)",
                bytes.len().min(EOCD_LEN + 0xFFFF),
                bytes.len()
            ))
        })?;
        let dir = read_directory_position(bytes, eocd, fail)?;
        let end = dir.offset.checked_add(dir.size);
        if end.is_none_or(|end| end > eocd as u64) {
            return Err(fail(format!(
                "corrupt zip archive: the central directory (offset {}, {} bytes) is not \
                 inside the {} bytes before its end record",
                dir.offset, dir.size, eocd
            )));
        }
        let start = dir.offset as usize;
        let directory = &bytes[start..start + dir.size as usize];
        let mut entries = Vec::new();
        let mut cursor = Cursor::at(directory, 0);
        while (entries.len() as u64) < dir.count {
            entries.push(read_central_entry(&mut cursor, entries.len(), fail)?);
        }
        Ok(ZipArchive { bytes, entries })
    }

    /// The entry called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The contents of a stored entry, checked against the archive.
    pub fn data(
        &self,
        entry: &ZipEntry,
        fail: &dyn Fn(String) -> NnError,
    ) -> Result<&'a [u8], NnError> {
        let name = &entry.name;
        if entry.method != 0 {
            let kind = if entry.method == 8 { ", deflate" } else { "" };
            return Err(fail(format!(
                "zip entry '{name}' is compressed (method {}{kind}); torch.save writes stored \
                 entries: re-save the file with torch.save, or unzip and re-zip it with \
                 `zip -0`",
                entry.method
            )));
        }
        if entry.compressed_size != entry.uncompressed_size {
            return Err(fail(format!(
                "corrupt zip entry '{name}': stored, but its sizes differ ({} and {} bytes)",
                entry.compressed_size, entry.uncompressed_size
            )));
        }
        let corrupt = |what: &str| {
            fail(format!(
                "truncated or corrupt zip archive: entry '{name}': {what} (local header at \
                 offset {}, {} bytes of data; the file has {} bytes)",
                entry.local_offset,
                entry.compressed_size,
                self.bytes.len()
            ))
        };
        let offset = usize::try_from(entry.local_offset)
            .map_err(|_| corrupt("the local header is beyond the file"))?;
        let mut c = Cursor::at(self.bytes, offset);
        if c.u32() != Some(LOCAL_HEADER) {
            return Err(corrupt("no local file header at its offset"));
        }
        let lengths = c.take(22).and_then(|_| Some((c.u16()?, c.u16()?)));
        let (name_len, extra_len) =
            lengths.ok_or_else(|| corrupt("the local header is cut off"))?;
        let start = offset + LOCAL_LEN + usize::from(name_len) + usize::from(extra_len);
        let end = usize::try_from(entry.compressed_size)
            .ok()
            .and_then(|n| start.checked_add(n));
        match end {
            Some(end) if end <= self.bytes.len() => Ok(&self.bytes[start..end]),
            _ => Err(corrupt("its data extends beyond the end of the file")),
        }
    }
}

/// The position of the end-of-central-directory record: the last signature in the file's
/// last `22 + 65535` bytes (the record plus the longest comment) whose comment length
/// reaches exactly the end of the file (or, failing that, the last signature at all).
fn find_end_of_directory(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < EOCD_LEN {
        return None;
    }
    let lowest = bytes.len().saturating_sub(EOCD_LEN + 0xFFFF);
    let mut fallback = None;
    for pos in (lowest..=bytes.len() - EOCD_LEN).rev() {
        if Cursor::at(bytes, pos).u32() != Some(END_OF_DIRECTORY) {
            continue;
        }
        let comment = Cursor::at(bytes, pos + 20).u16().map(usize::from);
        if comment.is_some_and(|c| pos + EOCD_LEN + c == bytes.len()) {
            return Some(pos);
        }
        fallback = fallback.or(Some(pos));
    }
    fallback
}

/// Reads the directory's offset, size and entry count from the end record at `eocd`,
/// following the ZIP64 locator when a field is saturated.
fn read_directory_position(
    bytes: &[u8],
    eocd: usize,
    fail: &dyn Fn(String) -> NnError,
) -> Result<Directory, NnError> {
    let mut c = Cursor::at(bytes, eocd + 10);
    let fields = (|| Some((c.u16()?, c.u32()?, c.u32()?)))();
    let Some((count, size, offset)) = fields else {
        return Err(fail("truncated zip end-of-central-directory record".into()));
    };
    if count != 0xFFFF && size != 0xFFFF_FFFF && offset != 0xFFFF_FFFF {
        return Ok(Directory {
            offset: u64::from(offset),
            size: u64::from(size),
            count: u64::from(count),
        });
    }
    let corrupt = |what: &str| fail(format!("corrupt ZIP64 zip archive: {what}"));
    let locator = eocd
        .checked_sub(20)
        .ok_or_else(|| corrupt("no ZIP64 end-of-directory locator before the end record"))?;
    let mut c = Cursor::at(bytes, locator);
    if c.u32() != Some(ZIP64_LOCATOR) {
        return Err(corrupt(
            "no ZIP64 end-of-directory locator before the end record",
        ));
    }
    let record = c.take(4).and_then(|_| c.u64());
    let record = record
        .and_then(|r| usize::try_from(r).ok())
        .filter(|&r| r < locator)
        .ok_or_else(|| corrupt("the ZIP64 end record's offset is not inside the file"))?;
    let mut c = Cursor::at(bytes, record);
    if c.u32() != Some(ZIP64_END_OF_DIRECTORY) {
        return Err(corrupt(
            "no ZIP64 end-of-directory record at the locator's offset",
        ));
    }
    let fields = c
        .take(28)
        .and_then(|_| Some((c.u64()?, c.u64()?, c.u64()?)));
    let (count, size, offset) =
        fields.ok_or_else(|| corrupt("the ZIP64 end-of-directory record is cut off"))?;
    Ok(Directory {
        offset,
        size,
        count,
    })
}

/// Reads the central directory header at the cursor (entry number `index`, for messages).
fn read_central_entry(
    c: &mut Cursor<'_>,
    index: usize,
    fail: &dyn Fn(String) -> NnError,
) -> Result<ZipEntry, NnError> {
    let corrupt = || {
        fail(format!(
            "truncated or corrupt zip archive: central directory entry {index} is cut off or \
             has a wrong signature"
        ))
    };
    let start = c.pos;
    if c.u32() != Some(CENTRAL_HEADER) || c.bytes.len() - start < CENTRAL_LEN {
        return Err(corrupt());
    }
    let mut h = Cursor::at(c.bytes, start + 10);
    let method = h.u16().ok_or_else(corrupt)?;
    let sizes = h.take(8).and_then(|_| Some((h.u32()?, h.u32()?)));
    let (compressed, uncompressed) = sizes.ok_or_else(corrupt)?;
    let lengths = (|| Some((h.u16()?, h.u16()?, h.u16()?)))();
    let (name_len, extra_len, comment_len) = lengths.ok_or_else(corrupt)?;
    let local = Cursor::at(c.bytes, start + 42).u32().ok_or_else(corrupt)?;
    c.pos = start + CENTRAL_LEN;
    let name = c.take(usize::from(name_len)).ok_or_else(corrupt)?;
    let extra = c.take(usize::from(extra_len)).ok_or_else(corrupt)?;
    c.take(usize::from(comment_len)).ok_or_else(corrupt)?;
    let name = String::from_utf8_lossy(name).into_owned();
    let mut entry = ZipEntry {
        name,
        method,
        compressed_size: u64::from(compressed),
        uncompressed_size: u64::from(uncompressed),
        local_offset: u64::from(local),
    };
    apply_zip64_extra(&mut entry, extra, [uncompressed, compressed, local]).ok_or_else(|| {
        fail(format!(
            "corrupt zip archive: entry '{}' needs 64-bit sizes or offset, but its ZIP64 \
             extra field is missing or too short",
            entry.name
        ))
    })?;
    Ok(entry)
}

/// Replaces the saturated (`0xFFFFFFFF`) 32-bit fields of `entry` by the 64-bit values of
/// its ZIP64 extra field, which lists them in the order uncompressed size, compressed
/// size, local header offset (only the saturated ones).
fn apply_zip64_extra(entry: &mut ZipEntry, extra: &[u8], fields: [u32; 3]) -> Option<()> {
    if !fields.contains(&0xFFFF_FFFF) {
        return Some(());
    }
    let mut c = Cursor::at(extra, 0);
    while c.pos < extra.len() {
        let id = c.u16()?;
        let len = c.u16()?;
        let data = c.take(usize::from(len))?;
        if id != ZIP64_EXTRA_ID {
            continue;
        }
        let mut d = Cursor::at(data, 0);
        if fields[0] == 0xFFFF_FFFF {
            entry.uncompressed_size = d.u64()?;
        }
        if fields[1] == 0xFFFF_FFFF {
            entry.compressed_size = d.u64()?;
        }
        if fields[2] == 0xFFFF_FFFF {
            entry.local_offset = d.u64()?;
        }
        return Some(());
    }
    None
}
