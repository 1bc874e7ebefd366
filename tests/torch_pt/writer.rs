//! Hand-made `.pt` archives for the reader's tests: a stored-entry zip writer and a pickle
//! writer for state dicts shaped like torch.save's (with any numbers, including wrong ones).

#![allow(dead_code)]

/// A stored zip archive of `entries` (CRC fields are 0: ferrite does not check them).
/// `method` is written as the compression method of every entry.
pub fn zip_with_method(entries: &[(&str, &[u8])], method: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let header = |sig: u32, out: &mut Vec<u8>, central: bool| {
            out.extend_from_slice(&sig.to_le_bytes());
            if central {
                out.extend_from_slice(&20u16.to_le_bytes()); // version made by
            }
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&0u16.to_le_bytes()); // flags
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 4]); // time, date
            out.extend_from_slice(&0u32.to_le_bytes()); // crc
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                out.extend_from_slice(&[0; 6]); // comment len, disk, internal attributes
                out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                out.extend_from_slice(&offset.to_le_bytes());
            }
            out.extend_from_slice(name.as_bytes());
        };
        header(0x0403_4b50, &mut out, false);
        out.extend_from_slice(data);
        header(0x0201_4b50, &mut central, true);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A stored zip archive of `entries`.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with_method(entries, 0)
}

/// One tensor of a hand-made state dict.
pub struct View<'a> {
    pub name: &'a str,
    /// e.g. "FloatStorage".
    pub storage_type: &'a str,
    pub key: &'a str,
    pub numel: i64,
    pub offset: i64,
    pub sizes: &'a [i64],
    pub strides: &'a [i64],
}

fn int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&[0x8a, 8]); // LONG1
    out.extend_from_slice(&v.to_le_bytes());
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn ints(out: &mut Vec<u8>, v: &[i64]) {
    out.push(b'(');
    for &x in v {
        int(out, x);
    }
    out.push(b't');
}

/// The pickle torch.save writes for an OrderedDict of these views.
pub fn state_dict_pickle(views: &[View<'_>]) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    out.extend_from_slice(b"ccollections\nOrderedDict\n)R(");
    for v in views {
        string(&mut out, v.name);
        out.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        string(&mut out, "storage");
        out.extend_from_slice(format!("ctorch\n{}\n", v.storage_type).as_bytes());
        string(&mut out, v.key);
        string(&mut out, "cpu");
        int(&mut out, v.numel);
        out.extend_from_slice(b"tQ");
        int(&mut out, v.offset);
        ints(&mut out, v.sizes);
        ints(&mut out, v.strides);
        out.extend_from_slice(b"\x89ccollections\nOrderedDict\n)Rt");
        out.push(b'R');
    }
    out.extend_from_slice(b"u.");
    out
}

/// A `.pt` archive: `pickle` as `archive/data.pkl` and the storages as `archive/data/<key>`.
pub fn archive(pickle: &[u8], storages: &[(&str, &[u8])]) -> Vec<u8> {
    let names: Vec<String> = storages
        .iter()
        .map(|(k, _)| format!("archive/data/{k}"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("archive/data.pkl", pickle)];
    entries.push(("archive/byteorder", b"little"));
    for (name, (_, data)) in names.iter().zip(storages) {
        entries.push((name, data));
    }
    zip(&entries)
}

/// Little-endian f32 bytes.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
