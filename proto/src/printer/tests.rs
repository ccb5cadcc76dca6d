use super::*;

#[test]
fn ingress_hosts_read_like_kubectl() {
    let names: Vec<String> = [
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
    ]
    .map(String::from)
    .into();
    assert_eq!(hosts(names[..0].iter()), "*");
    assert_eq!(hosts(names[..2].iter()), "a.example.com,b.example.com");
    assert_eq!(
        hosts(names.iter()),
        "a.example.com,b.example.com,c.example.com + 1 more..."
    );
}

#[test]
fn every_kind_has_a_cell_for_each_column() {
    for k in Kind::ALL {
        let o = crate::kinds::default_object(k);
        assert_eq!(cells(&o, Time::now()).len(), columns(k).len(), "{k}");
    }
}

#[test]
fn ages_read_like_kubectl() {
    assert_eq!(
        [
            5,
            119,
            120,
            150,
            7199,
            10_800,
            12_000,
            172_800,
            187_200,
            800 * 86_400
        ]
        .map(age),
        [
            "5s", "119s", "2m", "2m30s", "119m", "3h", "3h20m", "2d", "2d4h", "2y70d"
        ]
    );
}
