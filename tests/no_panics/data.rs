//! ferrite-nn: IDX/MNIST readers and the data loader.

use super::*;

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
