from voca_cn.cli import main

raise SystemExit(main())
